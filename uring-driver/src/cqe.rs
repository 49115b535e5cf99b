//! [`Completion`]: what one completion queue entry tells an operation.

/// `IORING_CQE_F_NOTIF`: a zero-copy send's notification (its buffer is
/// released); the send's result came in the CQE before it.
pub const CQE_F_NOTIF: u32 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED`, in a notification's result (with
/// `IORING_SEND_ZC_REPORT_USAGE`): the data was copied after all.
pub const NOTIF_USAGE_ZC_COPIED: i32 = i32::MIN;

/// One completion queue entry's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The operation's result: non-negative on success, `-errno` on failure.
    pub result: i32,
    /// The CQE flags (`IORING_CQE_F_*`).
    pub flags: u32,
}

impl Completion {
    /// The result as `io::Result`, with the OS error code intact.
    pub fn into_result(self) -> std::io::Result<u32> {
        if self.result < 0 {
            Err(std::io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as u32)
        }
    }
}
