//! SDK interceptors on every AWS client: count every request attempt, and
//! refuse a listing whose XML body was cut off; on CloudTrail lookups, read
//! AWS's clock from the response `Date`.

use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::collect::ApiCalls;

/// Records every attempt (retries included) under the operation's name.
#[derive(Debug)]
pub(super) struct CountAttempts(pub ApiCalls);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "snapaudit::CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0.record(metadata.name());
        }
        Ok(())
    }
}

/// The SDK's XML reader accepts a body that stops part way and returns the
/// items read so far: a listing cut in half would look like deletions. A
/// successful answer must end by closing its root element; one that does not
/// becomes an `InvalidResponse` error, which the listing retries.
#[derive(Debug)]
pub(super) struct RejectCutXml;

impl Intercept for RejectCutXml {
    fn name(&self) -> &'static str {
        "snapaudit::RejectCutXml"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        match response.body().bytes() {
            Some(body) if response.status().is_success() && !is_whole_xml(body) => {
                Err("the response body is cut off (its XML root element is not closed)".into())
            }
            _ => Ok(()),
        }
    }
}

/// How far this machine's clock is ahead of AWS's, the most seen: the
/// `Date` header of each answer (RFC 9110, an IMF-fixdate, which every AWS
/// endpoint sends) against the local clock when it arrived. CloudTrail
/// lookups start from times this clock recorded, so a clock ahead of AWS
/// would skip the events in between.
#[derive(Debug, Clone, Default)]
pub struct ClockAhead(Arc<Mutex<Option<jiff::SignedDuration>>>);

impl ClockAhead {
    pub fn most(&self) -> Option<jiff::SignedDuration> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn saw(&self, server: jiff::Timestamp, local: jiff::Timestamp) {
        let ahead = local.duration_since(server);
        let mut most = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *most = Some(most.map_or(ahead, |m| m.max(ahead)));
    }
}

impl Intercept for ClockAhead {
    fn name(&self) -> &'static str {
        "snapaudit::ClockAhead"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context.response().headers().get("date");
        if let Some(server) = date.and_then(|d| jiff::fmt::rfc2822::parse(d).ok()) {
            self.saw(server.timestamp(), jiff::Timestamp::now());
        }
        Ok(())
    }
}

/// Whether `body` (XML) ends by closing the element it opened first.
fn is_whole_xml(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut rest = text;
    // Skip the declaration and comments before the root element.
    while let Some(after) = rest.strip_prefix("<?").or_else(|| rest.strip_prefix("<!--")) {
        match after.find('>') {
            Some(end) => rest = after[end + 1..].trim_start(),
            None => return false,
        }
    }
    let Some(open) = rest.strip_prefix('<') else { return true }; // not XML: not ours to judge
    let name: String = open.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
    if name.is_empty() {
        return false;
    }
    let root_tag_end = open.find('>').map(|i| &open[..i]);
    root_tag_end.is_some_and(|tag| tag.ends_with('/')) || text.ends_with(&format!("</{name}>"))
}

#[cfg(test)]
mod clock_tests {
    use super::ClockAhead;

    #[test]
    fn the_clock_keeps_the_most_it_was_ahead() {
        let clock = ClockAhead::default();
        assert_eq!(clock.most(), None);
        let server = jiff::fmt::rfc2822::parse("Mon, 07 Dec 2026 22:48:18 GMT").unwrap().timestamp();
        clock.saw(server, server + jiff::SignedDuration::from_secs(90));
        clock.saw(server, server - jiff::SignedDuration::from_secs(5));
        assert_eq!(clock.most(), Some(jiff::SignedDuration::from_secs(90)));
    }
}

#[cfg(test)]
mod xml_tests {
    use super::is_whole_xml;

    #[test]
    fn a_cut_body_is_told_from_a_whole_one() {
        let whole = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><snapshotSet><item><snapshotId>snap-1</snapshotId></item></snapshotSet></DescribeSnapshotsResponse>
"#;
        assert!(is_whole_xml(whole.as_bytes()));
        assert!(!is_whole_xml(&whole.as_bytes()[..whole.len() / 2]));
        assert!(!is_whole_xml(b"<?xml version=\"1.0\"?><Response><Errors>"));
        assert!(is_whole_xml(b"<Empty/>"));
        assert!(is_whole_xml(b"{\"json\": true}"));
        assert!(!is_whole_xml(b"<?xml version=\"1.0\""));
    }
}
