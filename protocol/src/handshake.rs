//! The version handshake: a client's first message is `Hello { version }`; the server answers with
//! its own version, the core of the endpoint and the batch limit, or `VersionMismatch`.

/// Bumped on any change of the wire contract.
pub const PROTOCOL_VERSION: u64 = 6;
