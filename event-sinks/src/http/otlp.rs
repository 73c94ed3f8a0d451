//! OTLP/HTTP answers: what a 2xx export response says the endpoint rejected. The request
//! bodies are written by the OTLP encoder, from the envelopes' typed parts.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use serde_json::Value;

/// How OTLP travels: binary protobuf, or OTLP/JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

/// What a 2xx answer says it rejected: `(rejected_log_records, error_message)` when the
/// answer carries a partial success with either set. An answer that does not decode is
/// taken as full success, which is what a plain `200 OK` means.
pub(crate) fn partial_success(answer: &[u8], encoding: Encoding) -> Option<(u64, String)> {
    if answer.is_empty() {
        return None;
    }
    let (rejected, message) = if encoding == Encoding::Json {
        json_partial_success(answer)?
    } else {
        let partial = ExportLogsServiceResponse::decode(answer)
            .ok()?
            .partial_success?;
        (partial.rejected_log_records, partial.error_message)
    };
    let rejected = u64::try_from(rejected).unwrap_or(0);
    (rejected > 0 || !message.is_empty()).then(|| (rejected, clip(message)))
}

/// The server's message, at most 512 bytes of it: it goes into `last_error` and onto every
/// line of the dead-letter file.
fn clip(mut message: String) -> String {
    if message.len() > 512 {
        let mut end = 512;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

/// Reads an OTLP/JSON export response by hand: the crate's serde derive wants
/// `rejectedLogRecords` as a JSON number, but the OTLP JSON mapping writes 64-bit integers as
/// strings (`"rejectedLogRecords":"2"`, what the Collector sends), so it would miss every
/// partial success. Both spellings of the keys and both forms of the number are read.
fn json_partial_success(answer: &[u8]) -> Option<(i64, String)> {
    let response: Value = serde_json::from_slice(answer).ok()?;
    let partial = response
        .get("partialSuccess")
        .or_else(|| response.get("partial_success"))?;
    let rejected = match partial
        .get("rejectedLogRecords")
        .or_else(|| partial.get("rejected_log_records"))
    {
        Some(Value::String(text)) => text.parse().ok()?,
        Some(Value::Number(number)) => number.as_i64()?,
        _ => 0,
    };
    let message = partial
        .get("errorMessage")
        .or_else(|| partial.get("error_message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((rejected, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_is_read_from_either_encoding() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
        let response = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "bad".into(),
            }),
        };
        let expected = Some((2, "bad".to_owned()));
        assert_eq!(
            partial_success(&response.encode_to_vec(), Encoding::Protobuf),
            expected
        );
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#;
        assert_eq!(partial_success(json, Encoding::Json), expected);
        let json = br#"{"partial_success":{"rejected_log_records":2,"error_message":"bad"}}"#;
        assert_eq!(partial_success(json, Encoding::Json), expected);
        let warning = br#"{"partialSuccess":{"errorMessage":"slow down"}}"#;
        assert_eq!(
            partial_success(warning, Encoding::Json),
            Some((0, "slow down".to_owned()))
        );
        assert_eq!(partial_success(b"", Encoding::Json), None);
        assert_eq!(partial_success(b"{}", Encoding::Json), None);
        assert_eq!(partial_success(b"OK", Encoding::Json), None);
    }
}
