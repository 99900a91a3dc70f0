//! A filesystem that loses what was never synced, as a disk does when the power goes
//! (the idea of LazyFS, from Jepsen's work on lost writes): for the test that cuts the
//! power under gadka and counts what survived.
//!
//! It lives in memory, mounted with FUSE, as two images: the one every read and write
//! sees, and the durable one, the disk after a cut. Syncing a file (`fsync` or
//! `fdatasync`) copies that file's bytes into the durable image; syncing a directory
//! copies its entries (creates, renames, unlinks), and nothing else does. A file whose
//! entry was never synced is gone after a cut, whatever its own syncs; one whose entry
//! was synced but whose data was not comes back empty. [`LazyFs::cut_power`] unmounts,
//! keeps the durable image alone and mounts it again: the remount also empties the
//! kernel's caches of the old mount, so nothing unsynced is read back from memory.
//!
//! The kernel's writeback cache stays off (fuser does not ask for it), so every
//! `write` reaches this filesystem before it returns, and every `fsync` is seen.
//! Shared writable `mmap` (SQLite's `-shm`) works through the page cache, whose dirty
//! pages are written here; their bytes need no durability (SQLite rebuilds that index
//! from the WAL after a crash). Locks are the kernel's own (fuser does not ask for
//! `FUSE_POSIX_LOCKS`), which is right for processes on one machine.
//!
//! File data is kept in chunks shared between the images, so a sync copies pointers,
//! and the first write after it copies only the chunk it touches.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    ffi::{OsStr, OsString},
    io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    SessionACL, TimeOrNow, WriteFlags,
};

/// The kernel may keep names and attributes this long; everything changes through it,
/// so what it keeps stays true until the unmount drops it.
const TTL: Duration = Duration::from_secs(1);
/// The unit of copy-on-write between the two images.
const CHUNK: usize = 32 * 1024;

/// What this machine lacks to mount a FUSE filesystem, as a sentence saying how to get
/// it; `None` when both the device and the mount helper are there.
pub fn missing() -> Option<String> {
    let mut missing = Vec::new();
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_err()
    {
        missing.push(
            "/dev/fuse cannot be opened (load the module with `modprobe fuse`; in a \
             container, pass the device in, e.g. `--device /dev/fuse --cap-add SYS_ADMIN`)",
        );
    }
    // Root mounts with mount(2); anyone else needs the setuid helper.
    if !is_root() && fusermount().is_none() {
        missing.push("fusermount3 is not on the PATH (`apt-get install -y fuse3`)");
    }
    (!missing.is_empty()).then(|| missing.join("; "))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn fusermount() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FUSERMOUNT_PATH") {
        return Some(path.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("fusermount3"))
        .find(|path| path.is_file())
}

/// The filesystem mounted at a directory; unmounted when dropped.
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

/// How many syncs the filesystem has seen since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Syncs {
    pub files: u64,
    pub dirs: u64,
}

impl LazyFs {
    /// Mounts an empty filesystem at `mountpoint`, an existing empty directory.
    pub fn mount(mountpoint: &Path) -> io::Result<Self> {
        if let Some(missing) = missing() {
            return Err(io::Error::other(format!("cannot mount FUSE: {missing}")));
        }
        let mut fs = Self {
            state: Arc::new(Mutex::new(State::new())),
            mountpoint: mountpoint.to_owned(),
            session: None,
        };
        fs.attach()?;
        Ok(fs)
    }

    /// Cuts the power: unmounts, throws away everything that was not synced (or, when
    /// [`LazyFs::cut_when_named`] fired, everything synced after that moment too), and
    /// mounts what the disk kept. Stop every process using the mount first: the unmount
    /// waits for their files to close.
    pub fn cut_power(&mut self) -> io::Result<()> {
        self.detach()?;
        self.lock().cut();
        self.attach()
            .map_err(|e| io::Error::new(e.kind(), format!("mounting again: {e}")))
    }

    /// Makes the power go at the first operation that creates, renames or removes a
    /// directory entry named `name`, just before it: what the disk holds then is what
    /// the next [`LazyFs::cut_power`] keeps, whatever runs on meanwhile. For cuts at an
    /// exact step of a program, such as just before a file is renamed into place.
    pub fn cut_when_named(&self, name: &str) {
        self.lock().cut_when = Some(name.into());
    }

    /// Whether the cut armed by [`LazyFs::cut_when_named`] has happened.
    pub fn cut_happened(&self) -> bool {
        self.lock().frozen.is_some()
    }

    /// The syncs seen so far.
    pub fn syncs(&self) -> Syncs {
        self.lock().syncs
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn attach(&mut self) -> io::Result<()> {
        let mut config = Config::default();
        // No `auto_unmount`: fusermount3 then hands the unmount to a helper process,
        // which was seen to exit at once, leaving the unmount to nobody and the next
        // cut waiting for it forever. Root mounts and unmounts directly instead; a
        // failing test unmounts as it unwinds (`Drop`).
        config.mount_options = vec![
            MountOption::FSName("gadka-lazyfs".into()),
            MountOption::DefaultPermissions,
        ];
        config.acl = SessionACL::Owner;
        let session = fuser::spawn_mount(
            Mount {
                state: self.state.clone(),
            },
            &self.mountpoint,
            &config,
        )?;
        self.session = Some(session);
        Ok(())
    }

    fn detach(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match session.umount_and_join() {
            // The kernel ends a connection it was told to abort with ECONNABORTED
            // rather than ENODEV (seen once in CI, from a source this test does not
            // know). Either way the session is over, and what it served lives on in
            // `state`; what matters is that nothing is mounted any more.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("unmounting: {e}"))),
            Ok(()) => {}
        }
        if is_mounted(&self.mountpoint)? {
            return Err(io::Error::other(format!(
                "{} is still mounted after the unmount",
                self.mountpoint.display()
            )));
        }
        Ok(())
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}

/// Whether anything is mounted at `path`, as the kernel's mount table says.
fn is_mounted(path: &Path) -> io::Result<bool> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    // The fifth field is the mount point, with spaces and the like octal-escaped;
    // the test's temporary directories need no escaping.
    Ok(table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| Path::new(point) == path))
}

/// A file's bytes, in chunks that the two images share until one of them writes.
#[derive(Clone, Default)]
struct Data {
    chunks: Vec<Arc<Vec<u8>>>,
    len: u64,
}

impl Data {
    fn read(&self, offset: u64, size: usize) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(size as u64));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (chunk, within) = ((at / CHUNK as u64) as usize, (at % CHUNK as u64) as usize);
            let take = (CHUNK - within).min((end - at) as usize);
            match self.chunks.get(chunk) {
                Some(bytes) => out.extend_from_slice(&bytes[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        out
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        self.grow_chunks(end);
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done as u64;
            let (chunk, within) = ((at / CHUNK as u64) as usize, (at % CHUNK as u64) as usize);
            let take = (CHUNK - within).min(bytes.len() - done);
            Arc::make_mut(&mut self.chunks[chunk])[within..within + take]
                .copy_from_slice(&bytes[done..done + take]);
            done += take;
        }
        self.len = self.len.max(end);
    }

    fn set_len(&mut self, len: u64) {
        if len < self.len {
            self.chunks.truncate(len.div_ceil(CHUNK as u64) as usize);
            // Bytes past the end read as zeros if the file grows again.
            let within = (len % CHUNK as u64) as usize;
            if within != 0
                && let Some(last) = self.chunks.last_mut()
            {
                Arc::make_mut(last)[within..].fill(0);
            }
        } else {
            self.grow_chunks(len);
        }
        self.len = len;
    }

    fn grow_chunks(&mut self, len: u64) {
        let needed = len.div_ceil(CHUNK as u64) as usize;
        while self.chunks.len() < needed {
            self.chunks.push(Arc::new(vec![0; CHUNK]));
        }
    }
}

#[derive(Clone)]
enum Kind {
    File(Data),
    Dir(BTreeMap<OsString, u64>),
}

#[derive(Clone)]
struct Node {
    kind: Kind,
    perm: u16,
    uid: u32,
    gid: u32,
    /// 0 once unlinked: the node lives on for the files still open on it.
    nlink: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Node {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        let nlink = match kind {
            Kind::File(_) => 1,
            Kind::Dir(_) => 2,
        };
        Self {
            kind,
            perm,
            uid,
            gid,
            nlink,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, size) = match &self.kind {
            Kind::File(data) => (FileType::RegularFile, data.len),
            Kind::Dir(entries) => (FileType::Directory, entries.len() as u64),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind,
            perm: self.perm,
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// A new node like this one but empty: what a durable entry points at when the
    /// node's own contents were never synced.
    fn emptied(&self) -> Self {
        let mut node = self.clone();
        node.kind = match node.kind {
            Kind::File(_) => Kind::File(Data::default()),
            Kind::Dir(_) => Kind::Dir(BTreeMap::new()),
        };
        node
    }
}

const ROOT: u64 = 1;

#[derive(Clone)]
struct Image {
    nodes: HashMap<u64, Node>,
}

impl Image {
    fn new() -> Self {
        let root = Node::new(Kind::Dir(BTreeMap::new()), 0o755, 0, 0);
        Self {
            nodes: HashMap::from([(ROOT, root)]),
        }
    }

    /// Drops what no entry leads to from the root (a synced file whose name never
    /// reached the disk, an unlinked one) and counts the links again.
    fn collect(&mut self) {
        let mut reachable = HashSet::from([ROOT]);
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            if let Some(Node {
                kind: Kind::Dir(entries),
                ..
            }) = self.nodes.get(&ino)
            {
                for child in entries.values() {
                    if reachable.insert(*child) {
                        stack.push(*child);
                    }
                }
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
        for node in self.nodes.values_mut() {
            node.nlink = match node.kind {
                Kind::File(_) => 1,
                Kind::Dir(_) => 2,
            };
        }
    }
}

struct State {
    current: Image,
    durable: Image,
    next_ino: u64,
    /// The durable image as it was when the armed cut happened.
    frozen: Option<Image>,
    cut_when: Option<OsString>,
    syncs: Syncs,
}

impl State {
    fn new() -> Self {
        Self {
            current: Image::new(),
            durable: Image::new(),
            next_ino: ROOT + 1,
            frozen: None,
            cut_when: None,
            syncs: Syncs::default(),
        }
    }

    fn cut(&mut self) {
        let mut kept = self.frozen.take().unwrap_or_else(|| self.durable.clone());
        kept.collect();
        self.current = kept.clone();
        self.durable = kept;
        self.cut_when = None;
    }

    /// Freezes the durable image if the armed cut names one of `names`.
    fn touching(&mut self, names: &[&OsStr]) {
        if self.frozen.is_none()
            && let Some(armed) = &self.cut_when
            && names.contains(&armed.as_os_str())
        {
            self.frozen = Some(self.durable.clone());
        }
    }

    fn node(&self, ino: INodeNo) -> Result<&Node, Errno> {
        self.current.nodes.get(&ino.0).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: INodeNo) -> Result<&mut Node, Errno> {
        self.current.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: INodeNo) -> Result<&BTreeMap<OsString, u64>, Errno> {
        match &self.node(dir)?.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: INodeNo) -> Result<&mut BTreeMap<OsString, u64>, Errno> {
        let node = self.node_mut(dir)?;
        let now = SystemTime::now();
        node.mtime = now;
        node.ctime = now;
        match &mut node.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn lookup(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        Ok(self.node(INodeNo(ino))?.attr(ino))
    }

    fn make(
        &mut self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        kind: Kind,
        mode: u32,
        umask: u32,
    ) -> Result<FileAttr, Errno> {
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.touching(&[name]);
        let ino = self.next_ino;
        self.next_ino += 1;
        let node = Node::new(kind, (mode & !umask & 0o7777) as u16, req.uid(), req.gid());
        let attr = node.attr(ino);
        self.current.nodes.insert(ino, node);
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        Ok(attr)
    }

    fn unlink(&mut self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        match (&self.node(INodeNo(ino))?.kind, dir) {
            (Kind::Dir(entries), true) if !entries.is_empty() => return Err(Errno::ENOTEMPTY),
            (Kind::Dir(_), false) => return Err(Errno::EISDIR),
            (Kind::File(_), true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.touching(&[name]);
        self.entries_mut(parent)?.remove(name);
        let node = self.node_mut(INodeNo(ino))?;
        node.nlink = 0;
        node.ctime = SystemTime::now();
        Ok(())
    }

    fn rename(
        &mut self,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        let moving_dir = matches!(self.node(INodeNo(ino))?.kind, Kind::Dir(_));
        if let Some(&target) = self.entries(new_parent)?.get(new_name) {
            if target == ino {
                return Ok(());
            }
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            match (&self.node(INodeNo(target))?.kind, moving_dir) {
                (Kind::Dir(entries), true) if !entries.is_empty() => {
                    return Err(Errno::ENOTEMPTY);
                }
                (Kind::Dir(_), false) => return Err(Errno::EISDIR),
                (Kind::File(_), true) => return Err(Errno::ENOTDIR),
                _ => {}
            }
            self.node_mut(INodeNo(target))?.nlink = 0;
        }
        self.touching(&[name, new_name]);
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?
            .insert(new_name.to_owned(), ino);
        self.node_mut(INodeNo(ino))?.ctime = SystemTime::now();
        Ok(())
    }

    /// `fsync` and `fdatasync` alike: the file's bytes and attributes reach the disk.
    fn sync_file(&mut self, ino: INodeNo) -> Result<(), Errno> {
        let node = self.node(ino)?.clone();
        if let Kind::Dir(_) = node.kind {
            return self.sync_dir(ino);
        }
        self.syncs.files += 1;
        self.durable.nodes.insert(ino.0, node);
        Ok(())
    }

    /// A directory's entries reach the disk, as they are now. A child the disk did not
    /// know yet comes with it, empty: its own contents are its own sync's to keep.
    fn sync_dir(&mut self, ino: INodeNo) -> Result<(), Errno> {
        let node = self.node(ino)?.clone();
        let Kind::Dir(entries) = &node.kind else {
            return self.sync_file(ino);
        };
        self.syncs.dirs += 1;
        for child in entries.values() {
            if !self.durable.nodes.contains_key(child)
                && let Some(current) = self.current.nodes.get(child)
            {
                self.durable.nodes.insert(*child, current.emptied());
            }
        }
        self.durable.nodes.insert(ino.0, node);
        Ok(())
    }
}

/// What the FUSE session owns: the state it shares with [`LazyFs`].
struct Mount {
    state: Arc<Mutex<State>>,
}

impl Mount {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn reply_entry(reply: ReplyEntry, result: Result<FileAttr, Errno>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for Mount {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(reply, self.lock().lookup(parent, name));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.lock().node(ino) {
            Ok(node) => reply.attr(&TTL, &node.attr(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.lock();
        let node = match state.node_mut(ino) {
            Ok(node) => node,
            Err(e) => return reply.error(e),
        };
        if let Some(size) = size {
            match &mut node.kind {
                Kind::File(data) => data.set_len(size),
                Kind::Dir(_) => return reply.error(Errno::EISDIR),
            }
            node.mtime = SystemTime::now();
        }
        if let Some(mode) = mode {
            node.perm = (mode & 0o7777) as u16;
        }
        if let Some(uid) = uid {
            node.uid = uid;
        }
        if let Some(gid) = gid {
            node.gid = gid;
        }
        if let Some(atime) = atime {
            node.atime = time(atime);
        }
        if let Some(mtime) = mtime {
            node.mtime = time(mtime);
        }
        node.ctime = SystemTime::now();
        reply.attr(&TTL, &node.attr(ino.0));
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files only (S_IFMT, S_IFREG): gadka makes nothing else.
        if mode & 0o170_000 != 0o100_000 {
            return reply.error(Errno::EPERM);
        }
        let made = self
            .lock()
            .make(req, parent, name, Kind::File(Data::default()), mode, umask);
        reply_entry(reply, made);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let made = self
            .lock()
            .make(req, parent, name, Kind::Dir(BTreeMap::new()), mode, umask);
        reply_entry(reply, made);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let made = self
            .lock()
            .make(req, parent, name, Kind::File(Data::default()), mode, umask);
        match made {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.lock().unlink(parent, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.lock().unlink(parent, name, true));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.lock().rename(parent, name, newparent, newname, flags),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().node(ino) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.lock().node(ino).map(|node| &node.kind) {
            Ok(Kind::File(data)) => reply.data(&data.read(offset, size as usize)),
            Ok(Kind::Dir(_)) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.lock();
        let node = match state.node_mut(ino) {
            Ok(node) => node,
            Err(e) => return reply.error(e),
        };
        let Kind::File(bytes) = &mut node.kind else {
            return reply.error(Errno::EISDIR);
        };
        bytes.write(offset, data);
        node.mtime = SystemTime::now();
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // A close is no sync.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.lock().sync_file(ino));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().entries(ino) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.lock();
        let entries = match state.entries(ino) {
            Ok(entries) => entries,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, OsStr::new(".")),
            (ino.0, FileType::Directory, OsStr::new("..")),
        ];
        let children = entries.iter().map(|(name, child)| {
            let kind = match state.current.nodes.get(child).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (*child, kind, name.as_os_str())
        });
        for (i, (child, kind, name)) in dots
            .into_iter()
            .chain(children)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.lock().sync_dir(ino));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let mut state = self.lock();
        let result = state.node_mut(ino).and_then(|node| match &mut node.kind {
            Kind::File(data) => {
                let end = offset.saturating_add(length);
                if end > data.len {
                    data.set_len(end);
                }
                Ok(())
            }
            Kind::Dir(_) => Err(Errno::EISDIR),
        });
        reply_empty(reply, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_reads_back_what_was_written_and_zeros_past_a_truncation() {
        let mut data = Data::default();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        data.write(10, &bytes);
        assert_eq!(data.len, 100_010);
        assert_eq!(data.read(10, bytes.len()), bytes);
        assert_eq!(data.read(0, 10), [0; 10]);
        let synced = data.clone();
        data.write(40_000, b"changed");
        assert_eq!(synced.read(40_000, 7), bytes[39_990..39_997]);
        data.set_len(40_003);
        data.set_len(50_000);
        assert_eq!(data.read(40_000, 7), b"cha\0\0\0\0");
        assert_eq!(data.read(49_990, 100).len(), 10);
    }
}
