//! On-call health: what happened to each incident (when it opened, paged, was acknowledged and
//! resolved, and by whom), kept in the store for `oncall.retention` (`record`), the team's
//! schedule (`schedule`), and the figures a head of on-call is judged by, computed from them
//! (`figures`).

pub mod figures;
pub mod record;
pub mod schedule;
