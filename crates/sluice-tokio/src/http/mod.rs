//! HTTP/1.1 layer (under construction).
