-- Placeholder so this branch's migration 0021 builds without a gap (build.rs checks the sequence).
-- Migration 0020 belongs to another branch: the merge drops this file for that one.
select 1;
