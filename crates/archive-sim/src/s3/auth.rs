//! What the simulator reads from a request's signature: whether it is signed at all, and the
//! region its SigV4 credential scope names. Signatures are never verified (any access key
//! is accepted); the region is, because S3 refuses a request signed for the wrong region.

/// How a request is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// Signed; the SigV4 scope's region if there is one (SigV2 has none).
    Signed {
        region: Option<String>,
    },
}

/// From the `Authorization` header or a presigned URL's `X-Amz-Credential`.
pub fn parse(authorization: Option<&str>, query_credential: Option<&str>) -> Auth {
    if let Some(h) = authorization {
        let region = h
            .split([',', ' '])
            .find_map(|part| part.trim().strip_prefix("Credential="))
            .and_then(scope_region);
        return Auth::Signed { region };
    }
    if let Some(c) = query_credential {
        return Auth::Signed {
            region: scope_region(c),
        };
    }
    Auth::Anonymous
}

/// `AKID/20261201/us-east-1/s3/aws4_request` -> `us-east-1`.
fn scope_region(credential: &str) -> Option<String> {
    let parts: Vec<&str> = credential.split('/').collect();
    (parts.len() >= 5).then(|| parts[parts.len() - 3].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        let h = "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(
            parse(Some(h), None),
            Auth::Signed {
                region: Some("us-east-1".into())
            }
        );
        assert_eq!(
            parse(Some("AWS key:sig"), None),
            Auth::Signed { region: None }
        );
        assert_eq!(
            parse(None, Some("k/20261201/ap-northeast-1/s3/aws4_request")),
            Auth::Signed {
                region: Some("ap-northeast-1".into())
            }
        );
        assert_eq!(parse(None, None), Auth::Anonymous);
        // An access key holding a slash still leaves the scope readable from the end.
        assert_eq!(
            scope_region("a/b/20261201/eu-west-1/s3/aws4_request").as_deref(),
            Some("eu-west-1")
        );
    }
}
