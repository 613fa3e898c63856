//! FUNCTION libraries (Redis 7.0): `#!lua name=<lib>` code that registers functions with
//! `redis.register_function`, called with FCALL / FCALL_RO.

/// The loaded function libraries.
#[derive(Default)]
pub struct Functions {}
