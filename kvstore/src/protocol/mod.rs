//! The wire: decoding requests and encoding replies. Nothing here knows any command.

mod reply;
mod request;

pub use reply::Reply;
pub use request::{split_args, RequestParser};

#[cfg(test)]
mod alternative;
