//! The OpenAPI document served at `/v1/openapi.json`, written by hand in `server/openapi.json`
//! (a test checks that it parses and that every route of the router is in it).

pub const DOCUMENT: &str = include_str!("../openapi.json");
