//! External search tools (placeholder module filled by the drivers below).
