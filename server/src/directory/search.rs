//! User search over the portal's copy of the directory: any part of the display name,
//! sAMAccountName, UPN or SIP address, filtered by AD state, Lync state and pool, ranked by
//! relevance then name.
//!
//! Every user's searchable names sit lower-cased in one contiguous haystack, so a query is one
//! SIMD substring scan (`memchr::memmem`) over a few megabytes rather than 400,000 string
//! comparisons; relevance is read off where each match starts.

use deprov_wire::directory::{AdState, DirectoryUser, LyncState};
use memchr::memmem;
use std::sync::Arc;

/// Separates users in the haystack; never part of a query term (terms are split on whitespace).
const RECORD: u8 = b'\n';
/// Separates one user's fields: display name, sAMAccountName, UPN, SIP address.
const FIELD: u8 = b'\t';

/// What a search asks for, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    pub ad: Option<AdState>,
    pub lync: Option<LyncState>,
    pub pool: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// The searchable names of every user, in the snapshot's order (by display name).
#[derive(Debug, Default, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub struct SearchIndex {
    haystack: Vec<u8>,
    /// Where user `i`'s record starts (at its RECORD byte).
    starts: Vec<u32>,
    /// Per user, which characters occur where: a one-character query (which matches most of the
    /// directory) is answered from these instead of a million substring hits.
    letters: Vec<Letters>,
}

/// Bit sets over [`letter_bit`] characters for one user's names.
#[derive(Debug, Default, Clone, Copy)]
#[cfg_attr(test, derive(PartialEq))]
struct Letters {
    anywhere: u64,
    field_start: u64,
    word_start: u64,
    /// A whole field, or the left-hand side of the UPN or SIP address, is this one character.
    whole: u64,
}

/// Characters that get a bit: digits, letters, and the punctuation of account names.
fn letter_bit(byte: u8) -> Option<u64> {
    let index = match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'z' => byte - b'a' + 10,
        b'.' => 36,
        b'-' => 37,
        b'_' => 38,
        b'@' => 39,
        b'\'' => 40,
        _ => return None,
    };
    Some(1 << index)
}

fn is_word_break(byte: u8) -> bool {
    matches!(byte, b' ' | b'.' | b'-' | b'_' | b'\'')
}

impl Letters {
    /// The bits of one record (`RECORD` then fields separated by `FIELD`), as `relevance_at` reads them.
    fn of(record: &[u8]) -> Self {
        let mut letters = Self::default();
        for field in record[1..].split(|&b| b == FIELD) {
            for (i, &byte) in field.iter().enumerate() {
                let Some(bit) = letter_bit(byte) else {
                    continue;
                };
                letters.anywhere |= bit;
                if i == 0 {
                    letters.field_start |= bit;
                    if field.len() == 1 || field.get(1) == Some(&b'@') {
                        letters.whole |= bit;
                    }
                } else if is_word_break(field[i - 1]) {
                    letters.word_start |= bit;
                }
            }
        }
        letters
    }

    fn relevance(&self, bit: u64) -> Option<Relevance> {
        if self.anywhere & bit == 0 {
            None
        } else if self.whole & bit != 0 {
            Some(Relevance::Exact)
        } else if self.field_start & bit != 0 {
            Some(Relevance::FieldPrefix)
        } else if self.word_start & bit != 0 {
            Some(Relevance::WordPrefix)
        } else {
            Some(Relevance::Substring)
        }
    }
}

/// How well a user matches, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Relevance {
    /// A whole field, or the left-hand side of the UPN or SIP address.
    Exact = 0,
    /// The start of a field.
    FieldPrefix = 1,
    /// The start of a word ("doe" in "Jane Doe", "smith" in "john.smith").
    WordPrefix = 2,
    Substring = 3,
}

impl SearchIndex {
    pub fn build(users: &[Arc<DirectoryUser>]) -> Self {
        let mut haystack = Vec::with_capacity(users.len() * 96);
        let mut starts = Vec::with_capacity(users.len());
        for user in users {
            starts.push(u32::try_from(haystack.len()).expect("the haystack stays under 4 GiB"));
            push_record(&mut haystack, user);
        }
        let mut index = Self {
            haystack,
            starts,
            letters: Vec::new(),
        };
        index.letters = (0..index.starts.len())
            .map(|user| Letters::of(index.record(user)))
            .collect();
        index
    }

    /// User `position`'s names changed (not their place in the order): its record is replaced in
    /// place and the records after it shift, one pass over the offsets instead of a rebuild.
    pub fn replace(&mut self, position: usize, user: &DirectoryUser) {
        let start = self.starts[position] as usize;
        let end = self
            .starts
            .get(position + 1)
            .map_or(self.haystack.len(), |&s| s as usize);
        let mut record = Vec::with_capacity(end - start + 16);
        push_record(&mut record, user);
        let grown = record.len() as i64 - (end - start) as i64;
        self.letters[position] = Letters::of(&record);
        self.haystack.splice(start..end, record);
        assert!(
            u32::try_from(self.haystack.len()).is_ok(),
            "the haystack stays under 4 GiB"
        );
        for later in &mut self.starts[position + 1..] {
            *later = (i64::from(*later) + grown) as u32;
        }
    }

    fn record(&self, user: usize) -> &[u8] {
        let start = self.starts[user] as usize;
        let end = self
            .starts
            .get(user + 1)
            .map_or(self.haystack.len(), |&s| s as usize);
        &self.haystack[start..end]
    }

    /// The user whose record holds `position`, searching forward from user `from`: dense hits
    /// are a step or two away, sparse ones are found by bisection.
    fn user_after(&self, from: usize, position: usize) -> usize {
        let mut user = from;
        for _ in 0..8 {
            match self.starts.get(user + 1) {
                Some(&next) if next as usize <= position => user += 1,
                _ => return user,
            }
        }
        user + self.starts[user..].partition_point(|&start| start as usize <= position) - 1
    }

    /// How relevant a match of `len` bytes at `position` is, from the bytes around it.
    fn relevance_at(&self, position: usize, len: usize) -> Relevance {
        let before = self.haystack[position - 1];
        let after = self.haystack.get(position + len).copied();
        let field_start = before == RECORD || before == FIELD;
        let field_end = matches!(after, None | Some(RECORD | FIELD));
        match (field_start, after) {
            (true, _) if field_end => Relevance::Exact,
            (true, Some(b'@')) => Relevance::Exact,
            (true, _) => Relevance::FieldPrefix,
            _ if is_word_break(before) => Relevance::WordPrefix,
            _ => Relevance::Substring,
        }
    }

    /// The best relevance of `term` within one user's record, if it occurs there.
    fn relevance_in(&self, user: usize, term: &[u8]) -> Option<Relevance> {
        let start = self.starts[user] as usize;
        memmem::find_iter(self.record(user), term)
            .map(|at| self.relevance_at(start + at, term.len()))
            .min()
    }

    /// Users matching `text` (every whitespace-separated term, anywhere in their names), each with
    /// a sort key: relevance, then position in the snapshot (name order).
    fn matches(&self, text: &str, mut keep: impl FnMut(usize) -> bool) -> Vec<u64> {
        let key = |relevance: Relevance, user: usize| ((relevance as u64) << 32) | user as u64;
        let normalized = text.trim().to_lowercase();
        let normalized = normalized.strip_prefix("sip:").unwrap_or(&normalized);
        let mut terms: Vec<&str> = normalized.split_whitespace().collect();
        if terms.is_empty() {
            return (0..self.starts.len())
                .filter(|&u| keep(u))
                .map(|u| key(Relevance::Substring, u))
                .collect();
        }
        if let [term] = terms[..]
            && let Some(bit) = (term.len() == 1)
                .then(|| letter_bit(term.as_bytes()[0]))
                .flatten()
        {
            return (0..self.letters.len())
                .filter_map(|u| Some((u, self.letters[u].relevance(bit)?)))
                .filter(|&(u, _)| keep(u))
                .map(|(u, relevance)| key(relevance, u))
                .collect();
        }
        // Scan for the longest term (fewest hits); check the others within each hit's record.
        terms.sort_by_key(|term| std::cmp::Reverse(term.len()));
        let (first, others) = terms.split_first().expect("not empty");
        let phrase = normalized.split_whitespace().collect::<Vec<_>>().join(" ");

        let mut found = Vec::new();
        let mut current: Option<(usize, Relevance)> = None;
        let mut finish = |entry: Option<(usize, Relevance)>, found: &mut Vec<u64>| {
            let Some((user, relevance)) = entry else {
                return;
            };
            if !keep(user) {
                return;
            }
            if others.is_empty() {
                found.push(key(relevance, user));
                return;
            }
            let mut worst = relevance;
            for term in others {
                match self.relevance_in(user, term.as_bytes()) {
                    Some(r) => worst = worst.max(r),
                    None => return,
                }
            }
            // Several terms: the whole phrase at the start of the display name ranks first.
            let display = self.record(user)[1..]
                .split(|&b| b == FIELD)
                .next()
                .unwrap_or_default();
            let relevance = if display == phrase.as_bytes() {
                Relevance::Exact
            } else if display.starts_with(phrase.as_bytes()) {
                Relevance::FieldPrefix
            } else {
                worst.max(Relevance::WordPrefix)
            };
            found.push(key(relevance, user));
        };
        // Hits come in increasing order: walk users forward instead of searching for each hit's owner,
        // and skip the relevance check once a user's best is already exact.
        let mut user_end = 0;
        let mut last_user = 0;
        for position in memmem::find_iter(&self.haystack, first.as_bytes()) {
            if position < user_end {
                if let Some((_, best)) = current
                    .as_mut()
                    .filter(|(_, best)| *best > Relevance::Exact)
                {
                    *best = (*best).min(self.relevance_at(position, first.len()));
                }
                continue;
            }
            finish(current.take(), &mut found);
            let user = self.user_after(last_user, position);
            last_user = user;
            user_end = self
                .starts
                .get(user + 1)
                .map_or(usize::MAX, |&s| s as usize);
            current = Some((user, self.relevance_at(position, first.len())));
        }
        finish(current, &mut found);
        found
    }

    /// One page of matches as positions in the snapshot, and the number of matches in all;
    /// `keep` applies the query's filters to a position.
    pub fn search(
        &self,
        query: &SearchQuery,
        keep: impl FnMut(usize) -> bool,
    ) -> (Vec<usize>, usize) {
        let mut keys = self.matches(&query.text, keep);
        let total = keys.len();
        let end = query.offset.saturating_add(query.limit).min(total);
        if query.offset >= end {
            return (Vec::new(), total);
        }
        // Only the first `end` need ordering: select them, then sort just those.
        if end < keys.len() {
            keys.select_nth_unstable(end);
            keys.truncate(end);
        }
        keys.sort_unstable();
        let page = keys[query.offset..]
            .iter()
            .map(|k| (k & u64::from(u32::MAX)) as usize)
            .collect();
        (page, total)
    }
}

/// One user's record: RECORD, then their names lower-cased and separated by FIELD.
fn push_record(haystack: &mut Vec<u8>, user: &DirectoryUser) {
    haystack.push(RECORD);
    let fields = [
        user.ad.display_name.as_str(),
        &user.ad.sam_account_name,
        &user.ad.user_principal_name,
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            haystack.push(FIELD);
        }
        push_lowercase(haystack, field);
    }
    if let Some(lync) = &user.lync {
        haystack.push(FIELD);
        push_lowercase(haystack, &lync.sip_address.without_scheme());
    }
    // HR knows people by their number: an employeeID finds its person.
    if let Some(employee_id) = &user.ad.employee_id {
        haystack.push(FIELD);
        push_lowercase(haystack, employee_id);
    }
}

fn push_lowercase(haystack: &mut Vec<u8>, text: &str) {
    // Separators inside a name (never expected, but AD allows odd values) become spaces.
    let clean = |b: u8| if b == RECORD || b == FIELD { b' ' } else { b };
    if text.is_ascii() {
        haystack.extend(text.bytes().map(|b| clean(b.to_ascii_lowercase())));
    } else {
        haystack.extend(text.to_lowercase().bytes().map(clean));
    }
}
