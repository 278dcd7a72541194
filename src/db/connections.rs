//! `okta_connections`: users read the public columns (never `sealed_token`); only the worker's
//! functions write.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::ids::{ConnectionId, TeamId};
use crate::store::{
    AuditRecord, ConnectionRow, ConnectionSecretRow, ConnectionStore, DbError, NewConnection,
    UnreadableRow,
};

/// Columns users may read.
const COLUMNS: &str = "id,team_id,created_by,org_domain,auth_type,granted_scopes,key_version,status,environment,last_error,verified_at,created_at,updated_at,client_id,key_id,key_created_at,requested_scopes,missing_scopes,last_success_at";

/// What a job needs, read with the service role only.
const SECRET_COLUMNS: &str =
    "id,team_id,created_by,org_domain,auth_type,sealed_token,key_version,status,granted_scopes";

/// Reads one row of the scheduler's list on its own, so a bad row is reported rather than
/// failing the whole list.
fn secret_row(value: Value) -> Result<ConnectionSecretRow, UnreadableRow> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    let id = field("id").and_then(|s| ConnectionId::parse(&s).ok());
    let team_id = field("team_id").and_then(|s| TeamId::parse(&s).ok());
    serde_json::from_value(value).map_err(|e| UnreadableRow {
        id,
        team_id,
        error: format!("unreadable connection row: {e}"),
    })
}

#[async_trait(?Send)]
impl ConnectionStore for PgStores<'_> {
    async fn connections(&self) -> Result<Vec<ConnectionRow>, DbError> {
        let query = self
            .db
            .from("okta_connections")
            .select(COLUMNS)
            .neq("status", "deleted")
            .order("created_at.desc");
        self.db.fetch(query).await
    }

    async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRow>, DbError> {
        let query = self
            .db
            .from("okta_connections")
            .select(COLUMNS)
            .eq("id", id.to_string())
            .neq("status", "deleted");
        self.one(query).await
    }

    async fn connection_secret(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionSecretRow>, DbError> {
        let query = self
            .db
            .from("okta_connections")
            .select(SECRET_COLUMNS)
            .eq("id", id.to_string())
            .eq("status", "active");
        self.one(query).await
    }

    async fn active_connections(
        &self,
    ) -> Result<Vec<Result<ConnectionSecretRow, UnreadableRow>>, DbError> {
        let query = self
            .db
            .from("okta_connections")
            .select(SECRET_COLUMNS)
            .eq("status", "active")
            .order("created_at.asc");
        let rows: Vec<Value> = self.db.fetch(query).await?;
        Ok(rows.into_iter().map(secret_row).collect())
    }

    async fn create_connection(
        &self,
        new: &NewConnection,
        audit: &AuditRecord,
    ) -> Result<ConnectionRow, DbError> {
        let created: Value = self
            .call(
                "connection_create",
                &json!({"p_row": new, "p_audit": audit}),
            )
            .await?;
        row(created)
    }

    async fn verify_connection(
        &self,
        id: ConnectionId,
        granted: &[String],
        missing: &[String],
        audit: &AuditRecord,
    ) -> Result<ConnectionRow, DbError> {
        let verified: Value = self
            .call(
                "connection_verify",
                &json!({"p_id": id, "p_granted": granted, "p_missing": missing, "p_audit": audit}),
            )
            .await?;
        row(verified)
    }

    async fn delete_connection(
        &self,
        id: ConnectionId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call("connection_delete", &json!({"p_id": id, "p_audit": audit}))
            .await
    }

    async fn note_connection_error(
        &self,
        id: ConnectionId,
        error: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.guarded(
            "connection_note_error",
            &json!({"p_id": id, "p_error": error, "p_audit": audit}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ConnectionStatus;

    #[test]
    fn one_bad_row_is_reported_on_its_own() {
        let good = json!({"id": "22222222-2222-4222-8222-222222222222",
            "team_id": "11111111-1111-4111-8111-111111111111",
            "created_by": "33333333-3333-4333-8333-333333333333", "org_domain": "acme.okta.com",
            "auth_type": "api_token", "sealed_token": "v1.1.x", "key_version": 1, "status": "active"});
        let mut bad = good.clone();
        bad["key_version"] = json!(-1);
        let read = secret_row(good).unwrap();
        assert_eq!(read.status, ConnectionStatus::Active);
        let unreadable = secret_row(bad).unwrap_err();
        assert_eq!(unreadable.id, Some(read.id));
        assert_eq!(unreadable.team_id, Some(read.team_id));
        assert!(unreadable.error.contains("-1"), "{}", unreadable.error);
        let nameless = secret_row(json!({"id": 5})).unwrap_err();
        assert_eq!((nameless.id, nameless.team_id), (None, None));
    }
}
