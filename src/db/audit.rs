//! `activity_logs`: every row goes in through `audit_insert`, the one function that writes the
//! table (the mutation functions call it in their own transaction).

use async_trait::async_trait;
use serde_json::{json, Value};

use super::PgStores;
use crate::store::{AuditRecord, AuditStore, DbError};

#[async_trait(?Send)]
impl AuditStore for PgStores<'_> {
    async fn record(&self, audit: &AuditRecord) -> Result<(), DbError> {
        self.call::<_, Value>("audit_insert", &json!({ "p_audit": audit }))
            .await
            .map(|_| ())
    }
}
