//! Changes to the tenant that keep its indexes whole: logins, the users a plain list shows, group
//! memberships (sorted user indexes) and app assignments (direct ones and those inherited from the
//! highest-priority assigned group). The write API decides *whether* a change is allowed; these
//! only carry it out.

use serde_json::Value;

use super::apps::AppUserRecord;
use super::{id_of, AppUsers, Collection, Settings, Tenant};

impl Tenant {
    // ---- users

    /// Where the user `id_or_login` sits in [`Tenant::users`].
    pub(crate) fn user_index(&self, id_or_login: &str) -> Option<usize> {
        self.users
            .position(id_or_login)
            .or_else(|| self.logins.get(id_or_login).copied())
    }

    pub(crate) fn user_at(&self, index: usize) -> &Value {
        &self.users.items()[index]
    }

    /// Adds a user at the end of the list; returns its index.
    pub(crate) fn add_user(&mut self, user: Value) -> usize {
        let index = self.users.insert(user, None);
        let user = &self.users.items()[index];
        if let Some(login) = user["profile"]["login"].as_str() {
            self.logins.insert(login.to_owned(), index);
        }
        if user["status"] != "DEPROVISIONED" {
            self.listed_users.push(index);
        }
        index
    }

    /// Changes a user in place. A changed login is re-indexed; a user who becomes DEPROVISIONED
    /// leaves every group and app (as Okta deprovisions them), and one who leaves that status is
    /// listed again.
    pub(crate) fn edit_user(&mut self, index: usize, now_ms: u64, edit: impl FnOnce(&mut Value)) {
        let before = self.users.items()[index].clone();
        edit(&mut self.users.items_mut()[index]);
        let after = &self.users.items()[index];
        let (old_login, new_login) = (&before["profile"]["login"], &after["profile"]["login"]);
        if old_login != new_login {
            if let Some(old) = old_login.as_str() {
                self.logins.remove(old);
            }
            if let Some(new) = new_login.as_str() {
                self.logins.insert(new.to_owned(), index);
            }
        }
        let was_gone = before["status"] == "DEPROVISIONED";
        let is_gone = after["status"] == "DEPROVISIONED";
        match (was_gone, is_gone) {
            (false, true) => {
                if let Ok(at) = self.listed_users.binary_search(&index) {
                    self.listed_users.remove(at);
                }
                for group in self.groups_of(index) {
                    self.remove_member(&group, index, now_ms);
                }
                for assignments in self.app_users.values_mut() {
                    if let Ok(at) = assignments.search(index) {
                        assignments.records_mut().remove(at);
                    }
                }
            }
            (true, false) => {
                if let Err(at) = self.listed_users.binary_search(&index) {
                    self.listed_users.insert(at, index);
                }
            }
            _ => {}
        }
    }

    /// Removes a user for good. Only DEPROVISIONED users are deleted (the write API sees to it),
    /// so the user is in no group and no app; later indexes move down by one.
    pub(crate) fn delete_user(&mut self, index: usize) -> Value {
        let id = id_of(&self.users.items()[index]);
        let (_, user) = self
            .users
            .remove(&id)
            .expect("the index names a user of the list");
        if let Some(login) = user["profile"]["login"].as_str() {
            self.logins.remove(login);
        }
        let shift = |i: &mut usize| {
            if *i > index {
                *i -= 1;
            }
        };
        self.logins.values_mut().for_each(shift);
        self.listed_users.retain(|&i| i != index);
        self.listed_users.iter_mut().for_each(shift);
        for members in self.group_members.values_mut() {
            members.retain(|&i| i != index);
            members.iter_mut().for_each(shift);
        }
        for assignments in self.app_users.values_mut() {
            assignments.records_mut().retain(|r| r.user != index);
            for record in assignments.records_mut() {
                shift(&mut record.user);
            }
        }
        user
    }

    /// Ids of the groups `user` belongs to.
    pub(crate) fn groups_of(&self, user: usize) -> Vec<String> {
        self.groups
            .items()
            .iter()
            .map(id_of)
            .filter(|g| {
                self.group_members
                    .get(g)
                    .is_some_and(|m| m.binary_search(&user).is_ok())
            })
            .collect()
    }

    // ---- groups

    pub(crate) fn add_group(&mut self, group: Value) {
        self.group_members.insert(id_of(&group), Vec::new());
        self.groups.insert(group, None);
    }

    pub(crate) fn edit_group(&mut self, id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        self.groups.get_mut(id).map(edit).is_some()
    }

    /// Removes a group: its members leave it, and apps assigned to it lose that assignment (their
    /// users keep access only directly or through another assigned group).
    pub(crate) fn delete_group(&mut self, id: &str, now_ms: u64) -> Option<Value> {
        let index = self.groups.position(id)?;
        let apps: Vec<String> = self
            .app_groups
            .iter()
            .filter(|(_, groups)| groups.get(id).is_some())
            .map(|(app, _)| app.clone())
            .collect();
        for app in &apps {
            self.delete_app_group(app, id, now_ms);
        }
        self.group_members.remove(id);
        let (_, group) = self.groups.remove(id)?;
        for assignments in self.app_users.values_mut() {
            for record in assignments.records_mut() {
                if let Some(g) = record.group.as_mut() {
                    if *g > index {
                        *g -= 1;
                    }
                }
            }
        }
        Some(group)
    }

    /// Adds `user` to a group (members stay in user order); false if already a member.
    pub(crate) fn add_member(&mut self, group: &str, user: usize, now_ms: u64) -> bool {
        let Some(members) = self.group_members.get_mut(group) else {
            return false;
        };
        let Err(at) = members.binary_search(&user) else {
            return false;
        };
        members.insert(at, user);
        for app in self.apps_assigned_to(group) {
            self.reconcile(&app, user, now_ms);
        }
        true
    }

    /// Removes `user` from a group; false if not a member.
    pub(crate) fn remove_member(&mut self, group: &str, user: usize, now_ms: u64) -> bool {
        let Some(members) = self.group_members.get_mut(group) else {
            return false;
        };
        let Ok(at) = members.binary_search(&user) else {
            return false;
        };
        members.remove(at);
        for app in self.apps_assigned_to(group) {
            self.reconcile(&app, user, now_ms);
        }
        true
    }

    fn is_member(&self, group: &str, user: usize) -> bool {
        self.group_members
            .get(group)
            .is_some_and(|m| m.binary_search(&user).is_ok())
    }

    fn apps_assigned_to(&self, group: &str) -> Vec<String> {
        self.app_groups
            .iter()
            .filter(|(_, groups)| groups.get(group).is_some())
            .map(|(app, _)| app.clone())
            .collect()
    }

    // ---- apps

    pub(crate) fn add_app(&mut self, app: Value) {
        let id = id_of(&app);
        self.app_users.insert(id.clone(), AppUsers::empty(&app));
        self.app_groups.insert(id, Collection::default());
        self.apps.insert(app, None);
    }

    pub(crate) fn edit_app(&mut self, id: &str, edit: impl FnOnce(&mut Value)) -> bool {
        self.apps.get_mut(id).map(edit).is_some()
    }

    pub(crate) fn delete_app(&mut self, id: &str) -> Option<Value> {
        self.app_users.remove(id);
        self.app_groups.remove(id);
        self.apps.remove(id).map(|(_, app)| app)
    }

    /// Assigns `user` to an app directly (`scope: USER`), with an app profile; false if the user
    /// was already assigned directly (the profile is then replaced).
    pub(crate) fn assign_user(
        &mut self,
        app: &str,
        user: usize,
        profile: Option<Value>,
        now_ms: u64,
    ) -> bool {
        let Some(assignments) = self.app_users.get_mut(app) else {
            return false;
        };
        match assignments.search(user) {
            Ok(at) => {
                let record = &mut assignments.records_mut()[at];
                let was_direct = record.group.is_none();
                record.group = None;
                if profile.is_some() || !was_direct {
                    record.set_profile(profile);
                }
                record.touch(now_ms);
                !was_direct
            }
            Err(at) => {
                let record = AppUserRecord::new(user, None, now_ms, profile);
                assignments.records_mut().insert(at, record);
                true
            }
        }
    }

    /// Ends a direct assignment; the user keeps the app if an assigned group still grants it.
    pub(crate) fn unassign_user(&mut self, app: &str, user: usize, now_ms: u64) -> bool {
        let Some(assignments) = self.app_users.get_mut(app) else {
            return false;
        };
        let Ok(at) = assignments.search(user) else {
            return false;
        };
        if assignments.records()[at].group.is_some() {
            return false;
        }
        assignments.records_mut().remove(at);
        self.reconcile(app, user, now_ms);
        true
    }

    /// Assigns a group to an app at `priority` (0 first; the others move down), or moves an
    /// existing assignment there. Returns whether it is new.
    pub(crate) fn put_app_group(
        &mut self,
        app: &str,
        mut assignment: Value,
        priority: Option<usize>,
        now_ms: u64,
    ) -> bool {
        let group = id_of(&assignment);
        let Some(groups) = self.app_groups.get_mut(app) else {
            return false;
        };
        let existing = groups.remove(&group);
        let is_new = existing.is_none();
        let at = priority.or(existing.map(|(at, _)| at));
        assignment["priority"] = Value::Null;
        groups.insert(assignment, at);
        for (i, item) in groups.items_mut().iter_mut().enumerate() {
            item["priority"] = i.into();
        }
        self.reconcile_app(app, now_ms);
        is_new
    }

    pub(crate) fn delete_app_group(&mut self, app: &str, group: &str, now_ms: u64) -> bool {
        let Some(groups) = self.app_groups.get_mut(app) else {
            return false;
        };
        if groups.remove(group).is_none() {
            return false;
        }
        for (i, item) in groups.items_mut().iter_mut().enumerate() {
            item["priority"] = i.into();
        }
        self.reconcile_app(app, now_ms);
        true
    }

    pub(crate) fn app_assignments_mut(&mut self, app: &str) -> Option<&mut AppUsers> {
        self.app_users.get_mut(app)
    }

    /// Recomputes one user's inherited assignment to an app: a direct assignment stays; otherwise
    /// the highest-priority assigned group the user is in grants it, or nothing does.
    fn reconcile(&mut self, app: &str, user: usize, now_ms: u64) {
        let via = self.granting_group(app, user);
        let Some(assignments) = self.app_users.get_mut(app) else {
            return;
        };
        match (assignments.search(user), via) {
            (Ok(at), _) if assignments.records()[at].group.is_none() => {}
            (Ok(at), Some(group)) => {
                let record = &mut assignments.records_mut()[at];
                if record.group != Some(group) {
                    record.group = Some(group);
                    record.touch(now_ms);
                }
            }
            (Ok(at), None) => {
                assignments.records_mut().remove(at);
            }
            (Err(at), Some(group)) => {
                let record = AppUserRecord::new(user, Some(group), now_ms, None);
                assignments.records_mut().insert(at, record);
            }
            (Err(_), None) => {}
        }
    }

    /// Recomputes every inherited assignment of an app, after its group assignments changed.
    fn reconcile_app(&mut self, app: &str, now_ms: u64) {
        let Some(groups) = self.app_groups.get(app) else {
            return;
        };
        let mut users: Vec<usize> = groups
            .items()
            .iter()
            .filter_map(|g| self.group_members.get(&id_of(g)))
            .flatten()
            .copied()
            .collect();
        if let Some(assignments) = self.app_users.get(app) {
            users.extend(
                assignments
                    .records()
                    .iter()
                    .filter(|r| r.group.is_some())
                    .map(|r| r.user),
            );
        }
        users.sort_unstable();
        users.dedup();
        for user in users {
            self.reconcile(app, user, now_ms);
        }
    }

    /// The index of the highest-priority group assigned to `app` that `user` is in.
    fn granting_group(&self, app: &str, user: usize) -> Option<usize> {
        let groups = self.app_groups.get(app)?;
        groups
            .items()
            .iter()
            .map(id_of)
            .find(|g| self.is_member(g, user))
            .and_then(|g| self.groups.position(&g))
    }

    // ---- policies and org configuration

    pub(crate) fn policies_mut(&mut self) -> &mut Collection {
        &mut self.policies
    }

    pub(crate) fn policy_rules_mut(&mut self, policy: &str) -> Option<&mut Collection> {
        self.policy_rules.get_mut(policy)
    }

    pub(crate) fn add_policy(&mut self, policy: Value, rules: Vec<Value>) {
        self.policy_rules
            .insert(id_of(&policy), Collection::from_items(rules));
        self.policies.insert(policy, None);
    }

    pub(crate) fn delete_policy(&mut self, id: &str) -> Option<Value> {
        self.policy_rules.remove(id);
        self.policies.remove(id).map(|(_, p)| p)
    }

    pub(crate) fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tenant() -> Tenant {
        Tenant::generate(4, 60, 5, 5)
    }

    fn scopes(tenant: &Tenant, app: &str, user: usize) -> Option<String> {
        let id = id_of(tenant.user_at(user));
        tenant
            .app_user(app, &id)
            .map(|a| a["scope"].as_str().unwrap().to_owned())
    }

    #[test]
    fn memberships_grant_and_withdraw_group_assignments() {
        let mut t = tenant();
        let app = id_of(&t.apps()[0]);
        let group = id_of(&t.groups()[3]);
        let user = t
            .listed_user_indexes()
            .iter()
            .copied()
            .find(|&u| t.app_user(&app, &id_of(t.user_at(u))).is_none() && !t.is_member(&group, u))
            .expect("a user without the app");
        // Assigning the group to the app, then the user to the group, grants the app.
        assert!(t.put_app_group(&app, json!({"id": group, "profile": {}}), Some(0), 1));
        assert_eq!(t.app_groups(&app).unwrap()[0]["id"], group.as_str());
        let priorities: Vec<u64> = t
            .app_groups(&app)
            .unwrap()
            .iter()
            .map(|g| g["priority"].as_u64().unwrap())
            .collect();
        assert_eq!(priorities, (0..priorities.len() as u64).collect::<Vec<_>>());
        assert!(t.add_member(&group, user, 2));
        assert_eq!(scopes(&t, &app, user).as_deref(), Some("GROUP"));
        // A direct assignment wins, and survives leaving the group.
        assert!(t.assign_user(&app, user, Some(json!({"role": "admin"})), 3));
        assert_eq!(scopes(&t, &app, user).as_deref(), Some("USER"));
        assert!(t.remove_member(&group, user, 4));
        assert_eq!(scopes(&t, &app, user).as_deref(), Some("USER"));
        let profile = t.app_user(&app, &id_of(t.user_at(user))).unwrap()["profile"].clone();
        assert_eq!(profile, json!({"role": "admin"}));
        // Without it, nothing is left.
        assert!(t.unassign_user(&app, user, 5));
        assert_eq!(scopes(&t, &app, user), None);
    }

    #[test]
    fn deleting_a_group_or_user_keeps_every_index_right() {
        let mut t = tenant();
        let app = id_of(&t.apps()[0]);
        let group = id_of(&t.groups()[2]);
        let member = t.group_member_indexes(&group).unwrap()[0];
        t.put_app_group(&app, json!({"id": group, "profile": {}}), None, 1);
        assert!(t.app_user(&app, &id_of(t.user_at(member))).is_some());
        let last_group = id_of(t.groups().last().unwrap());
        t.delete_group(&group, 2).unwrap();
        assert!(t.group(&group).is_none());
        assert!(t.app_group(&app, &group).is_none());
        // Records still name the right groups after the indexes moved.
        for record in t.app_assignments(&app).unwrap().records() {
            if let Some(g) = record.group {
                assert!(t.app_group(&app, &id_of(&t.groups()[g])).is_some());
            }
        }
        assert!(t.group(&last_group).is_some());

        // Deprovisioning takes a user out of every group and app; deleting moves indexes down.
        let victim = t.listed_user_indexes()[1];
        let victim_id = id_of(t.user_at(victim));
        let next_id = id_of(t.user_at(victim + 1));
        t.edit_user(victim, 3, |u| u["status"] = json!("DEPROVISIONED"));
        assert!(t.groups_of(victim).is_empty());
        assert!(t
            .apps()
            .iter()
            .all(|a| t.app_user(&id_of(a), &victim_id).is_none()));
        assert!(!t.listed_user_indexes().contains(&victim));
        let login = t.user_at(victim)["profile"]["login"]
            .as_str()
            .unwrap()
            .to_owned();
        t.delete_user(victim);
        assert!(t.user(&victim_id).is_none());
        assert!(t.user(&login).is_none());
        assert_eq!(t.user_index(&next_id), Some(victim));
        let everyone = id_of(&t.groups()[0]);
        for &m in t.group_member_indexes(&everyone).unwrap() {
            assert!(m < t.users().len());
        }
    }
}
