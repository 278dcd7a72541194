//! Trust Center (placeholder during development)
