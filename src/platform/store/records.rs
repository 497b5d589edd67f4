//! What the store keeps, record by record: the profile, rooms, history events, a room's
//! own records (mailbox cursor, outbox, receipts, read marks, draft, mute), contacts, and
//! received files chunk by chunk. Each is sealed under its key ([`layout`]).

use confab_core::RoomId;
use confab_core::client::{OutboxRecord, ReceiptsRecord};
use confab_core::contacts::{Contact, Contacts};
use confab_core::signal::MailboxSeq;
use confab_core::vault::layout::{
    self, CHUNKS, CONTACTS, EVENTS, FILES, KEY_PROFILE, META, ROOMS, RoomMeta,
};
use confab_core::vault::records::{decode_cursor, encode_cursor};

use super::{
    Backend, DRAFT_CAP, EventRecord, Op, Profile, ReadMarks, SavedRoom, Store, StoreError,
};

impl<B: Backend> Store<B> {
    /// The saved profile, if one was saved.
    pub async fn load_profile(&self) -> Result<Option<Profile>, StoreError> {
        match self.load(META, KEY_PROFILE).await? {
            Some(plain) => Ok(Some(Profile::decode(&plain)?)),
            None => Ok(None),
        }
    }

    /// Saves (replaces) the profile.
    pub async fn save_profile(&self, profile: &Profile) -> Result<(), StoreError> {
        let op = self.sealed_put(META, KEY_PROFILE.to_vec(), &profile.encode())?;
        self.backend.write(vec![op]).await
    }

    /// Every saved room, most recently opened first.
    pub async fn rooms(&self) -> Result<Vec<SavedRoom>, StoreError> {
        let mut rooms = Vec::new();
        for (key, plain) in self.load_all(ROOMS, &[]).await? {
            let room = SavedRoom::decode(&plain)?;
            if room.home().as_bytes().as_slice() != key.as_slice() {
                return Err(StoreError::Corrupt(
                    "a room is saved under another id".into(),
                ));
            }
            rooms.push(room);
        }
        rooms.sort_by_key(|room| std::cmp::Reverse(room.last_opened_ms));
        Ok(rooms)
    }

    /// Saves (replaces) a room, keyed by its lasting id ([`SavedRoom::home`]).
    pub async fn save_room(&self, room: &SavedRoom) -> Result<(), StoreError> {
        let key = room.home().as_bytes().to_vec();
        let op = self.sealed_put(ROOMS, key, &room.encode())?;
        self.backend.write(vec![op]).await
    }

    /// Saves `bytes` as the record of room `id`, whatever they hold: a record as an older
    /// build wrote it.
    #[cfg(test)]
    pub(crate) async fn save_room_bytes_for_testing_only(
        &self,
        id: RoomId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let op = self.sealed_put(ROOMS, id.as_bytes().to_vec(), bytes)?;
        self.backend.write(vec![op]).await
    }

    /// Deletes a room, all its events, its mailbox cursor, its outbox record, its receipts,
    /// its read marks and its draft, in one transaction.
    pub async fn forget_room(&self, room: RoomId) -> Result<(), StoreError> {
        let prefix = room.as_bytes().to_vec();
        let mut ops = vec![
            Op::DeletePrefix {
                store: ROOMS,
                prefix: prefix.clone(),
            },
            Op::DeletePrefix {
                store: EVENTS,
                prefix,
            },
        ];
        ops.extend(RoomMeta::ALL.map(|kind| Op::DeletePrefix {
            store: META,
            prefix: kind.key(room),
        }));
        self.backend.write(ops).await?;
        self.next_seq.borrow_mut().remove(&room);
        Ok(())
    }

    /// Appends `events` to `room`'s history, in order, atomically. Each gets the next
    /// sequence number of the room; [`Store::load_events`] returns them in that order.
    /// Returns their records, in the same order.
    pub async fn append_events(
        &self,
        room: RoomId,
        events: &[Vec<u8>],
    ) -> Result<Vec<EventRecord>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.reserve_seqs(room, events.len() as u64).await?;
        let records: Vec<EventRecord> = (first..first + events.len() as u64)
            .map(|seq| EventRecord(layout::event_key(room, seq)))
            .collect();
        let ops = events
            .iter()
            .zip(&records)
            .map(|(event, EventRecord(key))| self.sealed_put(EVENTS, key.clone(), event))
            .collect::<Result<Vec<Op>, StoreError>>()?;
        self.backend.write(ops).await?;
        Ok(records)
    }

    /// Overwrites these event records (from [`Store::append_events`] or
    /// [`Store::load_event_records`]) with new bytes, atomically: a deleted message's
    /// record then holds only its redacted form (issue 17, item 6). The old value is
    /// replaced in place; exports read what is stored, so they carry the new form too.
    pub async fn rewrite_events(
        &self,
        events: &[(EventRecord, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let ops = events
            .iter()
            .map(|(EventRecord(key), event)| self.sealed_put(EVENTS, key.clone(), event))
            .collect::<Result<Vec<Op>, StoreError>>()?;
        self.backend.write(ops).await
    }

    /// `room`'s events, in the order they were appended.
    pub async fn load_events(&self, room: RoomId) -> Result<Vec<Vec<u8>>, StoreError> {
        let records = self.load_event_records(room).await?;
        Ok(records.into_iter().map(|(_, event)| event).collect())
    }

    /// `room`'s events with their records, in the order they were appended.
    pub async fn load_event_records(
        &self,
        room: RoomId,
    ) -> Result<Vec<(EventRecord, Vec<u8>)>, StoreError> {
        Ok(self
            .load_all(EVENTS, room.as_bytes())
            .await?
            .into_iter()
            .map(|(key, plain)| (EventRecord(key), plain.to_vec()))
            .collect())
    }

    /// Deletes these event records (from [`Store::load_event_records`]), atomically.
    pub async fn delete_events(&self, records: &[EventRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // Every event key has 40 bytes, so a whole key is a prefix of that key alone.
        let ops = records
            .iter()
            .map(|EventRecord(key)| Op::DeletePrefix {
                store: EVENTS,
                prefix: key.clone(),
            })
            .collect();
        self.backend.write(ops).await
    }

    /// How far this device has read `room`'s mailbox on the server: the highest entry
    /// sequence number taken in (0: nothing yet, fetch from the start).
    pub async fn mailbox_cursor(&self, room: RoomId) -> Result<MailboxSeq, StoreError> {
        match self.load(META, &RoomMeta::MailboxCursor.key(room)).await? {
            Some(plain) => Ok(decode_cursor(&plain)?),
            None => Ok(MailboxSeq::default()),
        }
    }

    /// Saves (replaces) `room`'s mailbox cursor. Not exported: an imported profile reads
    /// the mailbox from the start again, which only repeats events it holds.
    pub async fn save_mailbox_cursor(
        &self,
        room: RoomId,
        cursor: MailboxSeq,
    ) -> Result<(), StoreError> {
        let op = self.sealed_put(
            META,
            RoomMeta::MailboxCursor.key(room),
            &encode_cursor(cursor),
        )?;
        self.backend.write(vec![op]).await
    }

    /// Which of our events in `room` are known to be in other hands (core's
    /// [`OutboxRecord`]); `None` if none was saved.
    pub async fn outbox(&self, room: RoomId) -> Result<Option<OutboxRecord>, StoreError> {
        match self.load(META, &RoomMeta::Outbox.key(room)).await? {
            Some(plain) => OutboxRecord::decode(&plain)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(error.to_string())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s outbox record. Not exported: an imported profile deposits
    /// its unacknowledged events once more, which members ignore.
    pub async fn save_outbox(&self, room: RoomId, record: &OutboxRecord) -> Result<(), StoreError> {
        let op = self.sealed_put(META, RoomMeta::Outbox.key(room), &record.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What members of `room` hold of our events and how far they read (core's
    /// [`ReceiptsRecord`]); `None` if none was saved.
    pub async fn receipts(&self, room: RoomId) -> Result<Option<ReceiptsRecord>, StoreError> {
        match self.load(META, &RoomMeta::Receipts.key(room)).await? {
            Some(plain) => ReceiptsRecord::decode(&plain)
                .map(Some)
                .map_err(|error| StoreError::Corrupt(error.to_string())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s receipts record. Not exported: an imported profile shows
    /// our messages as pending until members link again and say what they hold.
    pub async fn save_receipts(
        &self,
        room: RoomId,
        record: &ReceiptsRecord,
    ) -> Result<(), StoreError> {
        let op = self.sealed_put(META, RoomMeta::Receipts.key(room), &record.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What the user has seen of `room` ([`ReadMarks`]); `None` if none was saved.
    pub async fn read_marks(&self, room: RoomId) -> Result<Option<ReadMarks>, StoreError> {
        match self.load(META, &RoomMeta::Read.key(room)).await? {
            Some(plain) => Ok(Some(ReadMarks::decode(&plain)?)),
            None => Ok(None),
        }
    }

    /// Saves (replaces) what the user has seen of `room`. Not exported: an imported profile
    /// starts with everything it holds seen.
    pub async fn save_read_marks(&self, room: RoomId, marks: &ReadMarks) -> Result<(), StoreError> {
        let op = self.sealed_put(META, RoomMeta::Read.key(room), &marks.encode())?;
        self.backend.write(vec![op]).await
    }

    /// What the user typed in `room` and did not send; `None` if nothing.
    pub async fn draft(&self, room: RoomId) -> Result<Option<String>, StoreError> {
        match self.load(META, &RoomMeta::Draft.key(room)).await? {
            Some(plain) => String::from_utf8(plain.to_vec())
                .map(Some)
                .map_err(|_| StoreError::Corrupt("a draft is not UTF-8".into())),
            None => Ok(None),
        }
    }

    /// Saves (replaces) `room`'s draft, cut to [`DRAFT_CAP`] bytes; an empty one deletes it.
    /// Not exported.
    pub async fn save_draft(&self, room: RoomId, text: &str) -> Result<(), StoreError> {
        let op = if text.is_empty() {
            Op::DeletePrefix {
                store: META,
                prefix: RoomMeta::Draft.key(room),
            }
        } else {
            let end = text.floor_char_boundary(DRAFT_CAP);
            self.sealed_put(META, RoomMeta::Draft.key(room), &text.as_bytes()[..end])?
        };
        self.backend.write(vec![op]).await
    }

    /// Whether the user muted `room`'s notifications (mentions of us still notify).
    pub async fn muted(&self, room: RoomId) -> Result<bool, StoreError> {
        Ok(self.load(META, &RoomMeta::Mute.key(room)).await?.is_some())
    }

    /// Mutes `room`'s notifications, or unmutes them. Not exported.
    pub async fn save_muted(&self, room: RoomId, muted: bool) -> Result<(), StoreError> {
        let op = if muted {
            self.sealed_put(META, RoomMeta::Mute.key(room), &[])?
        } else {
            Op::DeletePrefix {
                store: META,
                prefix: RoomMeta::Mute.key(room),
            }
        };
        self.backend.write(vec![op]).await
    }

    /// Saves (replaces) what we know about the contact with public signing key `key`.
    pub async fn save_contact(&self, key: [u8; 32], value: &[u8]) -> Result<(), StoreError> {
        let op = self.sealed_put(CONTACTS, key.to_vec(), value)?;
        self.backend.write(vec![op]).await
    }

    /// Every contact as `(public signing key, value)`, ordered by key.
    pub async fn contacts(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, StoreError> {
        self.load_all(CONTACTS, &[])
            .await?
            .into_iter()
            .map(|(key, plain)| {
                let key = layout::decode_key32(&key, "a contact key")?;
                Ok((key, plain.to_vec()))
            })
            .collect()
    }

    /// The people met before: entries that do not read are skipped, and a store that
    /// cannot be read gives none.
    pub async fn load_contacts(&self) -> Contacts {
        let mut contacts = Contacts::new();
        for (_, bytes) in self.contacts().await.unwrap_or_default() {
            if let Ok(contact) = Contact::decode(&bytes) {
                contacts.insert(contact);
            }
        }
        contacts
    }

    /// Stores `chunks` as chunks `first`, `first + 1`, … of `file` (replacing any already
    /// there) and, if given, `record` as the file's record, in one transaction: a record
    /// that counts the chunks it has is never ahead of (or behind) the chunks stored.
    pub async fn put_chunks(
        &self,
        file: [u8; 32],
        first: u32,
        chunks: &[&[u8]],
        record: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut ops = Vec::with_capacity(chunks.len() + 1);
        for (offset, chunk) in chunks.iter().enumerate() {
            let index = u32::try_from(offset)
                .ok()
                .and_then(|offset| first.checked_add(offset))
                .ok_or_else(|| {
                    StoreError::Unavailable("a file cannot have more than 2^32 chunks".into())
                })?;
            ops.push(self.sealed_put(CHUNKS, layout::chunk_key(file, index), chunk)?);
        }
        if let Some(record) = record {
            ops.push(self.sealed_put(FILES, file.to_vec(), record)?);
        }
        self.backend.write(ops).await
    }

    /// Chunk `index` of `file`, opened, if it is stored.
    pub async fn chunk(&self, file: [u8; 32], index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        // A chunk is file content, not a secret of ours: hand the buffer over rather than
        // copying it out of its `Zeroizing`.
        Ok(self
            .load(CHUNKS, &layout::chunk_key(file, index))
            .await?
            .map(|mut plain| std::mem::take(&mut *plain)))
    }

    /// How many chunks of `file` are stored, counted as the index of the last one + 1 (0 if
    /// none): chunks are stored contiguously from 0, so this is where to resume.
    pub async fn chunk_count(&self, file: [u8; 32]) -> Result<u32, StoreError> {
        match self.backend.last_key(CHUNKS, &file).await? {
            Some(key) => Ok(layout::decode_chunk_key(&key)?.1.saturating_add(1)),
            None => Ok(0),
        }
    }

    /// Saves (replaces) `file`'s record.
    pub async fn save_file_record(&self, file: [u8; 32], value: &[u8]) -> Result<(), StoreError> {
        let op = self.sealed_put(FILES, file.to_vec(), value)?;
        self.backend.write(vec![op]).await
    }

    /// Every file record as `(file id, value)`, ordered by id.
    pub async fn file_records(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, StoreError> {
        self.load_all(FILES, &[])
            .await?
            .into_iter()
            .map(|(key, plain)| {
                let key = layout::decode_key32(&key, "a file id")?;
                Ok((key, plain.to_vec()))
            })
            .collect()
    }

    /// Deletes `file`'s record and all its chunks, in one transaction.
    pub async fn forget_file(&self, file: [u8; 32]) -> Result<(), StoreError> {
        self.backend
            .write(vec![
                Op::DeletePrefix {
                    store: FILES,
                    prefix: file.to_vec(),
                },
                Op::DeletePrefix {
                    store: CHUNKS,
                    prefix: file.to_vec(),
                },
            ])
            .await
    }

    /// Deletes `file`'s chunks and keeps its record.
    pub async fn forget_chunks(&self, file: [u8; 32]) -> Result<(), StoreError> {
        self.backend
            .write(vec![Op::DeletePrefix {
                store: CHUNKS,
                prefix: file.to_vec(),
            }])
            .await
    }

    /// Reserves `count` sequence numbers in `room`, returning the first. Reservation is
    /// synchronous once the room's last key is known, so concurrent appends never share a
    /// number.
    async fn reserve_seqs(&self, room: RoomId, count: u64) -> Result<u64, StoreError> {
        let cached = self.next_seq.borrow().get(&room).copied();
        let first = match cached {
            Some(next) => next,
            None => {
                let next = match self.backend.last_key(EVENTS, room.as_bytes()).await? {
                    Some(key) => layout::decode_event_key(&key)?.1.saturating_add(1),
                    None => 0,
                };
                // Another append may have looked it up meanwhile: its numbers stand.
                *self.next_seq.borrow_mut().entry(room).or_insert(next)
            }
        };
        self.next_seq
            .borrow_mut()
            .insert(room, first.saturating_add(count));
        Ok(first)
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "records_tests.rs"]
mod tests;
