//! Plans and billing: what each plan allows, the Stripe client, webhook verification and the
//! event → plan state machine. Pure core: HTTP goes through `ports::HttpClient`, time through
//! `ports::Clock`, storage through the stores the services own.

pub mod account;
pub mod config;
pub mod plans;
pub mod stripe;
