//! [`Fields`]: a snapshot's tags or provider attributes, a small string map.
//!
//! A scan holds every snapshot (and a rescan its baseline too), and most
//! carry a handful of tags. A `BTreeMap` allocates a ~560-byte node for even
//! one entry; a sorted `Vec` of exactly the entries takes a tenth of that.
//! Serialized as a JSON object with sorted keys, as the map was, so stored
//! baselines and outputs are unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Key-value pairs sorted by key, keys unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key`, returning the value it replaced. Growing leaves spare
    /// capacity: build fields that are kept by collecting instead.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

/// Later pairs win for a repeated key, as inserting into a map would.
impl FromIterator<(String, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut all: Vec<(String, String)> = pairs.into_iter().collect();
        // Stable, so equal keys keep their order and the last one is kept.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(all.len());
        for pair in all {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        out.shrink_to_fit();
        Fields(out)
    }
}

impl From<BTreeMap<String, String>> for Fields {
    fn from(map: BTreeMap<String, String>) -> Self {
        // Sorted and unique already; an exact-size iterator, so no slack.
        Fields(map.into_iter().collect())
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = String;
    fn index(&self, key: &str) -> &String {
        self.get(key).unwrap_or_else(|| panic!("no field {key:?}"))
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(Fields::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Fields {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn behaves_as_a_sorted_map() {
        let mut f = pairs(&[("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(f.iter().collect::<Vec<_>>(), [(&"a".to_owned(), &"2".to_owned()), (&"b".into(), &"3".into())]);
        assert_eq!(f.insert("c".into(), "4".into()), None);
        assert_eq!(f.insert("a".into(), "5".into()), Some("2".into()));
        assert_eq!((f.get("a").map(String::as_str), f.contains_key("z"), f.len()), (Some("5"), false, 3));
        assert_eq!(f, pairs(&[("c", "4"), ("a", "5"), ("b", "3")]), "equal whatever the insertion order");
    }

    #[test]
    fn serializes_exactly_as_the_map_did() {
        let map: BTreeMap<String, String> = [("project", "x"), ("Name", "y"), ("aws:backup", "z")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let fields = Fields::from(map.clone());
        assert_eq!(serde_json::to_string(&fields).unwrap(), serde_json::to_string(&map).unwrap());
        let back: Fields = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(back, fields);
        assert_eq!(serde_json::to_string(&Fields::new()).unwrap(), "{}");
    }
}
