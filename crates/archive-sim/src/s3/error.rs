//! S3 error responses: status, code, message and the extra elements S3 adds (the right
//! region, the key, the endpoint to use).

use hyper::StatusCode;

#[derive(Clone, Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, tag: &'static str, v: impl Into<String>) -> S3Error {
        self.extra.push((tag, v.into()));
        self
    }

    pub fn header(mut self, name: &'static str, v: impl Into<String>) -> S3Error {
        self.headers.push((name, v.into()));
        self
    }

    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    pub fn no_such_key(key: &[u8]) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", String::from_utf8_lossy(key))
    }

    pub fn access_denied() -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
    }

    pub fn slow_down() -> S3Error {
        S3Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        )
    }

    pub fn internal(msg: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", msg)
    }

    pub fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "A header or query you provided implies functionality that is not implemented ({what})"
            ),
        )
    }

    pub fn invalid_argument(msg: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", msg)
    }

    pub fn malformed_xml() -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    /// The XML body.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        let mut x = super::xml::Xml::bare("Error");
        x.text("Code", self.code.as_bytes());
        x.text("Message", self.message.as_bytes());
        for (t, v) in &self.extra {
            x.text(t, v.as_bytes());
        }
        x.text("RequestId", request_id.as_bytes());
        x.text("HostId", format!("archive-sim/{request_id}").as_bytes());
        x.finish("Error")
    }
}
