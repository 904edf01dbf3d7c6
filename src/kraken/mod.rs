//! The only code that speaks HTTP to Kraken: signing, nonce, client, rate limiting, wire types.

pub mod sign;
