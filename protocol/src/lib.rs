//! The memserver wire contract: operation labels, request and reply layouts, error codes, the
//! shared magazine page and the postcard-encoded variable data. Nothing else lives here.
#![no_std]
