//! Lockout protection: a restore must not leave the restoring admin, or every super admin,
//! unable to sign in to the Admin Console.
//!
//! The check evaluates, for each super admin (a `SUPER_ADMIN` role held directly or through a
//! group) and the admin the target's credential acts as, the tenant as it is now and as it
//! would be after the plan: the user must stay ACTIVE, the first active global session
//! (`OKTA_SIGN_ON`) policy whose people condition covers them must have a rule that allows
//! them before any rule that denies them, and so must the Admin Console's app sign-in
//! (`ACCESS_POLICY`) policy. Okta evaluates policies and rules in priority order and denies
//! when no rule matches. A rule limited to a network zone is not counted on: the admin may be
//! outside it, and a way in that depends on where the admin stands is not one to restore into.
//! Only lockouts the restore causes count: an admin already unable to sign in stays reported
//! but does not block the plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tenant::ResourceType;

/// The types the check reads.
pub const TYPES: [ResourceType; 8] = [
    ResourceType::Users,
    ResourceType::Groups,
    ResourceType::GroupMembers,
    ResourceType::Apps,
    ResourceType::Policies,
    ResourceType::PolicyRules,
    ResourceType::UserRoles,
    ResourceType::GroupRoles,
];

/// The Okta Admin Console's app name.
const ADMIN_CONSOLE: &str = "saasure";

/// What the check needs of one resource, with ids in one org's id space.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    User {
        login: String,
        status: String,
    },
    Group {
        built_in_everyone: bool,
    },
    Member {
        group: String,
        user: String,
    },
    App {
        name: String,
        access_policy: Option<String>,
    },
    Policy {
        kind: String,
        active: bool,
        priority: i64,
        people: People,
    },
    Rule {
        policy: String,
        active: bool,
        priority: i64,
        people: People,
        /// Limited to some network zones.
        zoned: bool,
        /// `ALLOW` or `DENY` (absent: the rule grants nothing).
        access: Option<String>,
        name: String,
    },
    Role {
        /// `users` or `groups` assignee.
        user: Option<String>,
        group: Option<String>,
        super_admin: bool,
    },
}

/// A policy's or rule's people condition (empty includes cover everyone).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct People {
    pub users_include: Vec<String>,
    pub users_exclude: Vec<String>,
    pub groups_include: Vec<String>,
    pub groups_exclude: Vec<String>,
}

impl People {
    fn covers(&self, user: &str, groups: &BTreeSet<&str>) -> bool {
        let has = |v: &[String], f: &dyn Fn(&str) -> bool| v.iter().any(|x| f(x));
        if has(&self.users_exclude, &|u| u == user)
            || has(&self.groups_exclude, &|g| groups.contains(g))
        {
            return false;
        }
        let (users, groups_in) = (&self.users_include, &self.groups_include);
        (users.is_empty() && groups_in.is_empty())
            || has(users, &|u| u == user)
            || has(groups_in, &|g| groups.contains(g))
    }
}

/// Maps an id of one type into the id space the facts are kept in.
pub type Translate<'a> = &'a dyn Fn(ResourceType, &str) -> String;

fn strs(v: Option<&Value>, tr: Translate, t: ResourceType) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| tr(t, s))
                .collect()
        })
        .unwrap_or_default()
}

fn people(conditions: Option<&Value>, tr: Translate) -> People {
    let p = conditions.and_then(|c| c.get("people"));
    let at = |path: &str| p.and_then(|p| p.pointer(path));
    People {
        users_include: strs(at("/users/include"), tr, ResourceType::Users),
        users_exclude: strs(at("/users/exclude"), tr, ResourceType::Users),
        groups_include: strs(at("/groups/include"), tr, ResourceType::Groups),
        groups_exclude: strs(at("/groups/exclude"), tr, ResourceType::Groups),
    }
}

fn text(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The id an `_links` entry's `href` ends with.
fn link_id(v: &Value, name: &str) -> Option<String> {
    let href = v.pointer(&format!("/_links/{name}/href"))?.as_str()?;
    href.rsplit('/').next().map(str::to_string)
}

/// The fact one snapshot item of a type contributes, and its key, with ids translated.
pub fn fact(resource: ResourceType, item: &Value, tr: Translate) -> Option<(String, Fact)> {
    use ResourceType as T;
    let id = |t: ResourceType, ptr: &str| Some(tr(t, item.pointer(ptr)?.as_str()?));
    Some(match resource {
        T::Users => (
            id(T::Users, "/id")?,
            Fact::User {
                login: text(item, "/profile/login"),
                status: text(item, "/status"),
            },
        ),
        T::Groups => (
            id(T::Groups, "/id")?,
            Fact::Group {
                built_in_everyone: text(item, "/type") == "BUILT_IN"
                    && text(item, "/profile/name") == "Everyone",
            },
        ),
        T::GroupMembers => {
            let (group, user) = (id(T::Groups, "/groupId")?, id(T::Users, "/userId")?);
            (format!("{group}/{user}"), Fact::Member { group, user })
        }
        T::Apps => (
            id(T::Apps, "/id")?,
            Fact::App {
                name: text(item, "/name"),
                access_policy: link_id(item, "accessPolicy").map(|p| tr(T::Policies, &p)),
            },
        ),
        T::Policies => (
            id(T::Policies, "/id")?,
            Fact::Policy {
                kind: text(item, "/type"),
                active: text(item, "/status") == "ACTIVE",
                priority: item["priority"].as_i64().unwrap_or(i64::MAX),
                people: people(item.get("conditions"), tr),
            },
        ),
        T::PolicyRules => {
            let rule = item.get("rule")?;
            let policy = id(T::Policies, "/policyId")?;
            let key = tr(
                T::PolicyRules,
                &format!("{}/{}", text(item, "/policyId"), text(rule, "/id")),
            );
            let conditions = rule.get("conditions");
            let connection = conditions
                .and_then(|c| c.pointer("/network/connection"))
                .and_then(Value::as_str);
            let access = ["/actions/signon/access", "/actions/appSignOn/access"]
                .iter()
                .find_map(|p| rule.pointer(p).and_then(Value::as_str))
                .map(str::to_string);
            (
                key,
                Fact::Rule {
                    policy,
                    active: text(rule, "/status") == "ACTIVE",
                    priority: rule["priority"].as_i64().unwrap_or(i64::MAX),
                    people: people(conditions, tr),
                    zoned: connection.is_some_and(|c| c != "ANYWHERE"),
                    access,
                    name: text(rule, "/name"),
                },
            )
        }
        T::UserRoles | T::GroupRoles => {
            let (user, group) = if resource == T::UserRoles {
                (id(T::Users, "/userId"), None)
            } else {
                (None, id(T::Groups, "/groupId"))
            };
            let role_id = text(item, "/role/id");
            let owner = user.clone().or(group.clone())?;
            (
                format!("{owner}/{role_id}"),
                Fact::Role {
                    user,
                    group,
                    super_admin: text(item, "/role/type") == "SUPER_ADMIN"
                        && text(item, "/role/status") != "INACTIVE",
                },
            )
        }
        _ => return None,
    })
}

/// One state's facts, by type and key.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    by_type: BTreeMap<ResourceType, BTreeMap<String, Fact>>,
}

impl Facts {
    pub fn insert(&mut self, resource: ResourceType, key: String, fact: Fact) {
        self.by_type.entry(resource).or_default().insert(key, fact);
    }

    pub fn remove(&mut self, resource: ResourceType, key: &str) {
        if let Some(m) = self.by_type.get_mut(&resource) {
            m.remove(key);
        }
    }

    fn of(&self, resource: ResourceType) -> impl Iterator<Item = (&String, &Fact)> {
        self.by_type.get(&resource).into_iter().flatten()
    }

    fn groups_of(&self, user: &str) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self
            .of(ResourceType::GroupMembers)
            .filter_map(|(_, f)| match f {
                Fact::Member { group, user: u } if u == user => Some(group.as_str()),
                _ => None,
            })
            .collect();
        out.extend(self.of(ResourceType::Groups).filter_map(|(id, f)| match f {
            Fact::Group {
                built_in_everyone: true,
            } => Some(id.as_str()),
            _ => None,
        }));
        out
    }

    /// Users holding `SUPER_ADMIN`, directly or through a group.
    fn super_admins(&self) -> BTreeSet<String> {
        let mut groups = BTreeSet::new();
        let mut users = BTreeSet::new();
        for (_, f) in self
            .of(ResourceType::UserRoles)
            .chain(self.of(ResourceType::GroupRoles))
        {
            if let Fact::Role {
                user,
                group,
                super_admin: true,
            } = f
            {
                users.extend(user.clone());
                groups.extend(group.clone());
            }
        }
        for (_, f) in self.of(ResourceType::GroupMembers) {
            if let Fact::Member { group, user } = f {
                if groups.contains(group) {
                    users.insert(user.clone());
                }
            }
        }
        users
    }

    /// Why `user` could not sign in to the Admin Console, if they could not.
    fn lock(&self, user: &str) -> Option<Lock> {
        let status = self.of(ResourceType::Users).find_map(|(id, f)| match f {
            Fact::User { status, .. } if id == user => Some(status.clone()),
            _ => None,
        });
        match status.as_deref() {
            None => return Some(Lock::NoUser),
            Some("ACTIVE" | "PASSWORD_EXPIRED") => {}
            Some(s) => {
                return Some(Lock::Status {
                    status: s.to_string(),
                })
            }
        }
        let groups = self.groups_of(user);
        let mut policies: Vec<(&String, i64, &People)> = self
            .of(ResourceType::Policies)
            .filter_map(|(id, f)| match f {
                Fact::Policy {
                    kind,
                    active: true,
                    priority,
                    people,
                } if kind == "OKTA_SIGN_ON" => Some((id, *priority, people)),
                _ => None,
            })
            .collect();
        policies.sort_by_key(|p| (p.1, p.0.clone()));
        let Some((sign_on, _, _)) = policies.iter().find(|p| p.2.covers(user, &groups)) else {
            return Some(Lock::NoPolicy {
                policy: "global session".into(),
            });
        };
        if let Some(lock) = self.rules_allow(sign_on, user, &groups) {
            return Some(lock);
        }
        let console = self.of(ResourceType::Apps).find_map(|(_, f)| match f {
            Fact::App {
                name,
                access_policy,
            } if name == ADMIN_CONSOLE => Some(access_policy.clone()),
            _ => None,
        });
        match console {
            // An org without the Admin Console's app record (as collected) has nothing to check.
            None | Some(None) => None,
            Some(Some(policy)) => {
                let active = self
                    .of(ResourceType::Policies)
                    .any(|(id, f)| id == &policy && matches!(f, Fact::Policy { active: true, .. }));
                if active {
                    self.rules_allow(&policy, user, &groups)
                } else {
                    // Okta falls back to the default app sign-in policy; not modelled.
                    None
                }
            }
        }
    }

    /// Whether the first rule of `policy` that certainly applies to the user allows them.
    fn rules_allow(&self, policy: &str, user: &str, groups: &BTreeSet<&str>) -> Option<Lock> {
        let mut rules: Vec<_> = self
            .of(ResourceType::PolicyRules)
            .filter_map(|(k, f)| match f {
                Fact::Rule {
                    policy: p,
                    active: true,
                    priority,
                    people,
                    zoned,
                    access,
                    name,
                } if p == policy => Some((*priority, k, people, *zoned, access, name)),
                _ => None,
            })
            .collect();
        rules.sort_by_key(|r| (r.0, r.1.clone()));
        for (_, key, people, zoned, access, name) in rules {
            if zoned || !people.covers(user, groups) {
                continue;
            }
            return match access.as_deref() {
                Some("ALLOW") => None,
                _ => Some(Lock::Denied {
                    policy: policy.to_string(),
                    rule: key.clone(),
                    rule_name: name.clone(),
                }),
            };
        }
        Some(Lock::NoRule {
            policy: policy.to_string(),
        })
    }

    fn login(&self, user: &str) -> Option<String> {
        self.of(ResourceType::Users).find_map(|(id, f)| match f {
            Fact::User { login, .. } if id == user => Some(login.clone()),
            _ => None,
        })
    }
}

/// Why an admin could not sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lock {
    /// The user would not exist.
    NoUser,
    /// The user would not be ACTIVE.
    Status { status: String },
    /// No active policy would cover the user.
    NoPolicy { policy: String },
    /// No rule of the policy that covers the user would apply to them unconditionally.
    NoRule { policy: String },
    /// The first rule that applies would deny them.
    Denied {
        policy: String,
        rule: String,
        rule_name: String,
    },
}

/// One admin, before and after the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAccess {
    /// In the target's ids.
    pub user_id: String,
    pub login: Option<String>,
    /// The admin the target's credential acts as.
    pub restoring: bool,
    /// A super admin after the plan.
    pub super_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<Lock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Lock>,
}

/// What the check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clear,
    /// The restore would lock out the admin applying it.
    LocksOutRestoringAdmin,
    /// After the restore no super admin could sign in (or none would be left).
    LocksOutEverySuperAdmin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutCheck {
    pub verdict: Verdict,
    pub admins: Vec<AdminAccess>,
}

/// Compares the admins' access now (`now`) and after the plan (`after`).
pub fn check(now: &Facts, after: &Facts, restoring: Option<&str>) -> LockoutCheck {
    let supers_now = now.super_admins();
    let supers_after = after.super_admins();
    let mut users: BTreeSet<String> = supers_now.union(&supers_after).cloned().collect();
    users.extend(restoring.map(str::to_string));
    let admins: Vec<AdminAccess> = users
        .into_iter()
        .map(|u| AdminAccess {
            login: after.login(&u).or_else(|| now.login(&u)),
            restoring: restoring == Some(u.as_str()),
            super_admin: supers_after.contains(&u),
            now: now.lock(&u),
            after: after.lock(&u),
            user_id: u,
        })
        .collect();
    let caused = |a: &AdminAccess| a.after.is_some() && a.now.is_none();
    let verdict = if admins.iter().any(|a| a.restoring && caused(a)) {
        Verdict::LocksOutRestoringAdmin
    } else if !supers_now.is_empty()
        && admins
            .iter()
            .any(|a| supers_now.contains(&a.user_id) && a.now.is_none())
        && !admins.iter().any(|a| a.super_admin && a.after.is_none())
    {
        Verdict::LocksOutEverySuperAdmin
    } else {
        Verdict::Clear
    };
    LockoutCheck { verdict, admins }
}
