//! The daily digest: once a UTC day, the audit chain's head (row and hash) and the open requests,
//! to the security address and the webhooks. Kept outside deprov, the head is the anchor that
//! `deprov audit verify --anchor SEQ:HASH` checks the log still reaches: rows deleted from the
//! end leave a shorter chain valid in itself, which nothing inside the database can reveal.

use super::{Notice, emit_once};
use crate::store::{Store, StoreError};
use time::OffsetDateTime;

/// Raises today's digest unless it is out already; returns whether it raised it.
pub async fn raise_daily(store: &Store) -> Result<bool, StoreError> {
    let now = OffsetDateTime::now_utc();
    let key = format!("daily_digest:{}", now.date());
    let mut write = store.write().await?;
    let Some(head) = write.audit_log().tail().await? else {
        return Ok(false); // nothing to anchor yet
    };
    let notice = Notice::DailyDigest {
        head_seq: head.seq,
        head_hash: head.hash,
        open_requests: write.requests().open_count().await?,
    };
    let raised = emit_once(&mut write, now, None, notice, Some(&key)).await?;
    write.commit().await?;
    Ok(raised)
}
