//! Deleting everything under an R2 prefix within a request budget: list one page, delete it in
//! one batch, again until the prefix is empty. Naturally idempotent (what is gone is not listed
//! again), so a job that ran out of budget, or died, simply sweeps again.

use crate::ports::{ObjectStore, StoreError, DELETE_BATCH_KEYS, LIST_PAGE_KEYS};

/// Requests (R2 and database calls) one invocation of a lifecycle job may still make. Workers
/// bound the calls one invocation makes to other Cloudflare services, so a job counts its own
/// and stops in time, to be sent again.
pub struct Budget {
    left: u32,
}

impl Budget {
    pub fn new(requests: u32) -> Budget {
        Budget { left: requests }
    }

    /// Spends `n` requests; false (spending nothing) when fewer are left.
    pub fn spend(&mut self, n: u32) -> bool {
        if self.left < n {
            return false;
        }
        self.left -= n;
        true
    }

    pub fn left(&self) -> u32 {
        self.left
    }
}

/// How a sweep ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Swept {
    /// Nothing is left under the prefix.
    Empty,
    /// The budget ran out first; some objects may be left.
    OutOfBudget,
}

/// Deletes every object under `prefix`, counting the objects deleted into `deleted`.
pub async fn sweep(
    store: &dyn ObjectStore,
    prefix: &str,
    budget: &mut Budget,
    deleted: &mut u64,
) -> Result<Swept, StoreError> {
    // A prefix that names no directory would match other objects' keys.
    if !prefix.ends_with('/') || prefix.len() < 2 {
        return Err(StoreError(format!("refusing to sweep prefix {prefix:?}")));
    }
    loop {
        // A list, and the delete its page may need.
        if !budget.spend(2) {
            return Ok(Swept::OutOfBudget);
        }
        let keys = store.list_page(prefix, LIST_PAGE_KEYS).await?;
        if keys.is_empty() {
            return Ok(Swept::Empty);
        }
        for batch in keys.chunks(DELETE_BATCH_KEYS) {
            store.delete_many(batch).await?;
            *deleted += batch.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;
    use futures::executor::block_on;

    #[test]
    fn sweeps_a_prefix_in_pages_within_its_budget_and_resumes() {
        let store = MemoryStore::default();
        for i in 0..2500 {
            block_on(store.put(&format!("users/u/connections/c/backups/t/{i:05}"), vec![1]))
                .unwrap();
        }
        block_on(store.put("users/u/connections/c2/backups/t/keep", vec![1])).unwrap();
        let mut deleted = 0;
        // Two pages' worth of budget: 2,000 objects go, then it stops.
        let mut budget = Budget::new(4);
        let swept = block_on(sweep(
            &store,
            "users/u/connections/c/",
            &mut budget,
            &mut deleted,
        ));
        assert_eq!(swept.unwrap(), Swept::OutOfBudget);
        assert_eq!(deleted, 2000);
        // The next invocation finishes it; another connection's objects stay.
        let mut budget = Budget::new(10);
        let swept = block_on(sweep(
            &store,
            "users/u/connections/c/",
            &mut budget,
            &mut deleted,
        ));
        assert_eq!(swept.unwrap(), Swept::Empty);
        assert_eq!(deleted, 2500);
        assert_eq!(budget.left(), 6);
        assert_eq!(
            block_on(store.list("users/")).unwrap(),
            ["users/u/connections/c2/backups/t/keep"]
        );
        assert!(block_on(sweep(&store, "", &mut budget, &mut deleted)).is_err());
        assert!(block_on(sweep(&store, "users", &mut budget, &mut deleted)).is_err());
    }
}
