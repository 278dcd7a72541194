//! Authorization: who may do what. The matrix is data ([`matrix`]); migration 0005 mirrors it in
//! `role_permissions`/`scope_permissions`, and a stack test proves the two agree.
pub mod matrix;
