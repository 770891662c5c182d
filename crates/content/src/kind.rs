//! The content kind of an upload body, decided from its first bytes (or its declared
//! encoding).

/// The content kind of a body.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    /// Records as stored.
    Plain,
    /// Base64 of records.
    Base64,
    /// zlib (RFC 1950) stream of records.
    Zlib,
    /// Base64 of a zlib stream.
    Base64Zlib,
    /// gzip stream.
    Gzip,
    /// Base64 of a gzip stream.
    Base64Gzip,
    /// A zip archive (entries stored or deflated).
    Zip,
    /// Base64 of a zip archive.
    Base64Zip,
    /// Bare deflate, as declared by `Content-Encoding: deflate`.
    Deflate,
    /// Brotli, as declared by `Content-Encoding: br`.
    Brotli,
    /// Base64 text that decodes to nothing recognised.
    Base64Opaque,
    /// Base64 of low-entropy text that is not the record format (JSON, records joined
    /// otherwise): volume for the estimate, its lines matched.
    Base64Text,
    /// High-entropy bytes: encrypted, or compressed with an unknown codec.
    Opaque,
    /// Low-entropy bytes that are not the record format.
    Unrecognised,
    /// Nothing of the body is in the capture.
    Unseen,
}

impl Kind {
    /// Name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Base64 => "base64",
            Kind::Zlib => "zlib",
            Kind::Base64Zlib => "base64+zlib",
            Kind::Gzip => "gzip",
            Kind::Base64Gzip => "base64+gzip",
            Kind::Zip => "zip",
            Kind::Base64Zip => "base64+zip",
            Kind::Deflate => "deflate",
            Kind::Brotli => "br",
            Kind::Base64Opaque => "base64+opaque",
            Kind::Base64Text => "base64+text",
            Kind::Opaque => "opaque",
            Kind::Unrecognised => "unrecognised",
            Kind::Unseen => "unseen",
        }
    }

    /// Base64 outside: the compressed bytes are 3/4 of the body.
    pub fn base64(self) -> bool {
        matches!(
            self,
            Kind::Base64
                | Kind::Base64Zlib
                | Kind::Base64Gzip
                | Kind::Base64Zip
                | Kind::Base64Opaque
                | Kind::Base64Text
        )
    }

    /// A deflate-family codec was recognised.
    pub fn deflate(self) -> bool {
        matches!(
            self,
            Kind::Zlib
                | Kind::Base64Zlib
                | Kind::Gzip
                | Kind::Base64Gzip
                | Kind::Zip
                | Kind::Base64Zip
        )
    }
}
