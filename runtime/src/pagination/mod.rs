//! Walking a list page by page: where the next position comes from, when the list
//! ends, and how the position is handed to callers so a unified list can resume.

mod link;
mod position;
pub mod token;

pub use link::next_link;
pub use position::{headers_json, next_position, requested_page_size, Position, ResponseView, Step};
pub use token::{CursorKey, CursorState, PaginationError};
