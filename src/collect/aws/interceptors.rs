//! SDK interceptors on every AWS client: count every request attempt, and
//! refuse a listing whose XML body was cut off.

use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
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
