-- Placeholder for another branch's migration 0021 (lifecycle owns 0023); drop this file when
-- merging that branch.
select 1;
