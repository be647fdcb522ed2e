//! The client stub: a `Transport` trait, the kernel-shaped API on top of it, magazines and a
//! `GlobalAlloc` adapter.
#![no_std]
