//! Bearer-token authentication for the control plane.
//!
//! With a token configured, every call must carry `authorization: Bearer
//! <token>`; a missing or wrong one is UNAUTHENTICATED. The comparison is
//! constant-time over SHA-256 digests, so neither the token's bytes nor its
//! length leak through timing. The token itself is never logged or echoed.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

#[derive(Clone)]
pub struct BearerAuth {
    /// SHA-256 of the expected token; `None`: no authentication.
    expected: Option<[u8; 32]>,
}

/// Why a request was refused; each transport words it in its own terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    NotBearer,
    Wrong,
}

impl BearerAuth {
    pub fn new(token: Option<&str>) -> Self {
        BearerAuth { expected: token.map(|t| Sha256::digest(t.as_bytes()).into()) }
    }

    /// Checks an `authorization` value (gRPC metadata or an HTTP header).
    pub fn verify(&self, header: Option<&[u8]>) -> Result<(), AuthFailure> {
        let Some(expected) = &self.expected else { return Ok(()) };
        let header = header.ok_or(AuthFailure::Missing)?;
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(AuthFailure::NotBearer)?;
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if bool::from(given.ct_eq(expected)) { Ok(()) } else { Err(AuthFailure::Wrong) }
    }

    fn check(&self, header: Option<&[u8]>) -> Result<(), Status> {
        self.verify(header).map_err(|f| {
            Status::unauthenticated(match f {
                AuthFailure::Missing => "missing authorization: Bearer <token> metadata",
                AuthFailure::NotBearer => "authorization metadata is not \"Bearer <token>\"",
                AuthFailure::Wrong => "wrong bearer token",
            })
        })
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.check(request.metadata().get("authorization").map(|v| v.as_bytes()))?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn without_a_token_every_call_passes() {
        assert!(BearerAuth::new(None).check(None).is_ok());
    }

    #[test]
    fn a_missing_malformed_or_wrong_token_is_unauthenticated() {
        let auth = BearerAuth::new(Some("s3cret-token"));
        for header in [
            None,
            Some(&b"s3cret-token"[..]),
            Some(b"Basic s3cret-token"),
            Some(b"Bearer wrong"),
            Some(b"Bearer s3cret-token-longer"),
            Some(b"Bearer "),
        ] {
            let e = auth.check(header).unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{header:?}");
            assert!(!e.message().contains("s3cret"), "{}", e.message());
        }
        assert!(auth.check(Some(b"Bearer s3cret-token")).is_ok());
        assert!(auth.check(Some(b"bearer s3cret-token")).is_ok());
    }
}
