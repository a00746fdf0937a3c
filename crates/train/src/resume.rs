//! Where a population resumes: pure decisions over what is on disk.

/// The newest epoch at which every member has an intact checkpoint, given each member's intact
/// checkpoint epochs; `None` when they share none (start from scratch).
///
/// Members train in lockstep and checkpoint together, so after a crash they usually share their
/// newest one; a crash in the middle of writing a population's checkpoints, or a damaged file,
/// sends all members back to the newest one they still share.
#[must_use]
pub fn common_resume_epoch(per_member: &[Vec<u32>]) -> Option<u32> {
    let (first, rest) = per_member.split_first()?;
    first.iter().copied().filter(|e| rest.iter().all(|m| m.contains(e))).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_shared_epoch() {
        assert_eq!(common_resume_epoch(&[vec![0, 5, 10], vec![0, 5, 10]]), Some(10));
        assert_eq!(common_resume_epoch(&[vec![0, 5, 10], vec![0, 5]]), Some(5));
        assert_eq!(common_resume_epoch(&[vec![0, 10], vec![0, 5]]), Some(0));
        assert_eq!(common_resume_epoch(&[vec![5], vec![]]), None);
        assert_eq!(common_resume_epoch(&[]), None);
    }
}
