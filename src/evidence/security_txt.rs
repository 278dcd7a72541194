//! security.txt
