//! The per-line work: locate the accept date, apply the input filters, then count the
//! line, print it, or add it to one of the collections (statuses, codes, timers, servers,
//! URLs or sources) that `report` prints at the end.

use std::io::{self, Write};

use crate::args::{Config, LineWork};
use crate::fields::{at, date_parts, day_ms, field_start, field_stop, int_at, timers};
use crate::hash::{BytesMap, FastMap, Key};
use crate::reader::{After, Flow};
use crate::timestamp::Clock;

// Field numbers after the syslog prefix (skip_fields = 1 puts the accept date at field 7).
const SOURCE_FIELD: i32 = 5;
const ACCEPT_FIELD: i32 = 6;
const SERVER_FIELD: i32 = 8;
const TIME_FIELD: i32 = 9;
const STATUS_FIELD: i32 = 10;
const BYTES_SENT_FIELD: i32 = 11;
const TERM_CODES_FIELD: i32 = 14;
const QUEUE_LEN_FIELD: i32 = 16;
const METH_FIELD: i32 = 17;
const URL_FIELD: i32 = 18;

/// Counters of one server (`-srv`).
#[derive(Default)]
pub struct SrvStat {
    /// By first digit of the status: [0] for anything else, then 1xx..5xx.
    pub st_cnt: [u32; 6],
    pub nb_ct: u32,
    pub nb_rt: u32,
    pub nb_ok: u32,
    pub cum_ct: u64,
    pub cum_rt: u64,
}

impl SrvStat {
    /// Adds one request: its 5 timers when they could be read, its status class (0 for
    /// other statuses) when the status could be read.
    fn add(&mut self, timers: Option<[i32; 5]>, class: Option<usize>) {
        if let Some(a) = timers {
            if a.iter().all(|&v| v >= 0) {
                self.nb_ok = self.nb_ok.wrapping_add(1);
            }
            if a[2] >= 0 {
                self.cum_ct = self.cum_ct.wrapping_add(a[2] as u64);
                self.nb_ct = self.nb_ct.wrapping_add(1);
            }
            if a[3] >= 0 {
                self.cum_rt = self.cum_rt.wrapping_add(a[3] as u64);
                self.nb_rt = self.nb_rt.wrapping_add(1);
            }
        }
        if let Some(c) = class {
            self.st_cnt[c] = self.st_cnt[c].wrapping_add(1);
        }
    }
}

/// What went wrong reading the end of a line, reported after its counters were updated.
enum Problem {
    None,
    Truncated,
    Parse,
}

/// Counters of one URL (`-u*`) or one source address (`-ic`). Sums wrap like halog's.
#[derive(Default, Clone, Copy)]
pub struct UrlStat {
    pub nb_req: u32,
    pub nb_err: u32,
    pub total_time: u64,
    pub total_time_ok: u64,
    pub total_bytes: u64,
}

impl UrlStat {
    fn add(&mut self, o: &UrlStat) {
        self.nb_req = self.nb_req.wrapping_add(o.nb_req);
        self.nb_err = self.nb_err.wrapping_add(o.nb_err);
        self.total_time = self.total_time.wrapping_add(o.total_time);
        self.total_time_ok = self.total_time_ok.wrapping_add(o.total_time_ok);
        self.total_bytes = self.total_bytes.wrapping_add(o.total_bytes);
    }
}

/// What was read and collected.
pub struct Analyzer<'a, O: Write, E: Write> {
    pub cfg: &'a Config,
    work: LineWork,
    accept_n: i32,
    source_n: i32,
    pub out: O,
    pub err: E,
    /// Lines read (halog's "lines in").
    pub linenum: i32,
    pub parse_err: i32,
    pub lines_out: i32,
    /// Statuses (`-st`), termination or cookie codes (`-tc`, `-cc`), accept dates
    /// (`-ac`/`-ad`): value → occurrences.
    pub values: FastMap<i32, u32>,
    /// `-pct`/`-gt`: [0] total times of the lines with an aborted timer, [1] request,
    /// [2] connect, [3] response, [4] data times of the others.
    pub timers: [FastMap<i32, u32>; 5],
    pub servers: BytesMap<SrvStat>,
    pub urls: BytesMap<UrlStat>,
    clock: Clock,
}

impl<'a, O: Write, E: Write> Analyzer<'a, O, E> {
    pub fn new(cfg: &'a Config, out: O, err: E) -> Self {
        Analyzer {
            cfg,
            work: cfg.line_work(),
            accept_n: ACCEPT_FIELD.wrapping_add(cfg.skip_fields),
            source_n: SOURCE_FIELD.wrapping_add(cfg.skip_fields),
            out,
            err,
            linenum: 0,
            parse_err: 0,
            lines_out: 0,
            values: FastMap::default(),
            timers: Default::default(),
            servers: BytesMap::default(),
            urls: BytesMap::default(),
            clock: Clock::default(),
        }
    }

    /// Whether lines must be parsed; otherwise `-c` only counts them (`count_raw_line`).
    pub fn needs_parsing(&self) -> bool {
        self.work != LineWork::Count || self.cfg.has_input_filter()
    }

    pub(crate) fn limit_reached(&self) -> bool {
        self.cfg.lines_max >= 0 && self.lines_out >= self.cfg.lines_max
    }

    /// `-c` without filters: counts raw lines (none when inverted, as halog).
    pub fn count_raw_line(&mut self) -> Flow {
        if self.cfg.invert || self.limit_reached() {
            return Flow::Stop;
        }
        self.lines_out = self.lines_out.wrapping_add(1);
        if self.limit_reached() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn truncated(&mut self, l: &[u8]) -> io::Result<()> {
        if !self.cfg.quiet {
            write!(self.err, "Truncated line {}: ", self.linenum)?;
            self.err.write_all(l)?;
            self.err.write_all(b"\n")?;
        }
        Ok(())
    }

    /// One input line.
    pub fn line(&mut self, l: &[u8], after: &After) -> io::Result<Flow> {
        // for the few places where halog reads past the end of the line
        let ext = |i: usize| {
            if i < l.len() {
                l[i]
            } else {
                after.byte(i - l.len())
            }
        };
        self.linenum = self.linenum.wrapping_add(1);
        let cfg = self.cfg;
        let mut source = 0;
        let accept = if cfg.ip {
            source = field_start(l, 0, self.source_n);
            field_start(l, source, ACCEPT_FIELD - SOURCE_FIELD + 1)
        } else {
            field_start(l, 0, self.accept_n)
        };
        if at(l, accept) != b'[' || !(b'0'..=b'3').contains(&at(l, accept + 1)) {
            self.parse_err = self.parse_err.wrapping_add(1);
            return Ok(Flow::Continue);
        }

        let mut test = true;
        let mut time_field: Option<usize> = None;

        if let Some((lo, hi)) = cfg.time {
            let t = self.clock.timestamp(date_parts(ext, accept));
            test &= t >= lo && t <= hi;
        }

        if cfg.http_only || cfg.resp_time.is_some() {
            let t = field_start(l, accept, TIME_FIELD - ACCEPT_FIELD + 1);
            if t >= l.len() {
                self.truncated(l)?;
                return Ok(Flow::Continue);
            }
            time_field = Some(t);
            let tm = timers(l, t, 4);
            if cfg.http_only {
                test &= tm.count >= 4;
            }
            if let Some(limit) = cfg.resp_time {
                if tm.count < 4 {
                    self.parse_err = self.parse_err.wrapping_add(1);
                    return Ok(Flow::Continue);
                }
                let tr = tm.val[3].max(-1);
                test &= (tr >= limit) ^ cfg.resp_time_invert;
            }
        }

        // fields after the timers are found from the timers when known (same place)
        let base = |n: i32| match time_field {
            Some(t) => field_start(l, t, n - TIME_FIELD + 1),
            None => field_start(l, accept, n - ACCEPT_FIELD + 1),
        };

        if cfg.errors || cfg.status.is_some() {
            let b = base(STATUS_FIELD);
            if b >= l.len() {
                self.truncated(l)?;
                return Ok(Flow::Continue);
            }
            let val = int_at(l, b);
            if cfg.errors {
                test &= (val < 0 || (500..=599).contains(&val)) ^ cfg.errors_invert;
            }
            if let Some((lo, hi)) = cfg.status {
                test &= (val >= lo && val <= hi) ^ cfg.status_invert;
            }
        }

        if cfg.queue || cfg.queue_srv {
            let mut b = base(QUEUE_LEN_FIELD);
            if b >= l.len() {
                self.truncated(l)?;
                return Ok(Flow::Continue);
            }
            // "srv/backend": a server queue not starting with 0 always matches; otherwise
            // -QS fails and -Q wants a backend queue starting with 1-9
            if l[b] == b'0' {
                if cfg.queue_srv {
                    test = false;
                } else {
                    loop {
                        b += 1;
                        if at(l, b) == b'/' {
                            b += 1;
                            break;
                        }
                        if b >= l.len() {
                            break;
                        }
                    }
                    test &= (b'1'..=b'9').contains(&at(l, b));
                }
            }
        }

        if let Some(code) = &cfg.term_code {
            let b = base(TERM_CODES_FIELD);
            if b >= l.len() {
                self.truncated(l)?;
                return Ok(Flow::Continue);
            }
            let same = at(l, b) == code.first().copied().unwrap_or(0)
                && at(l, b + 1) == code.get(1).copied().unwrap_or(0);
            test &= same ^ cfg.term_code_invert;
        }

        if !(test ^ cfg.invert) {
            return Ok(Flow::Continue);
        }

        if self.work == LineWork::Count {
            self.lines_out = self.lines_out.wrapping_add(1);
        } else if cfg.ip {
            self.count_ip(l, source, accept, time_field)?;
        } else if let Some((block, field)) = cfg.capture {
            self.capture(l, accept, time_field, block, field)?;
        } else {
            match self.work {
                LineWork::Print => {
                    self.out.write_all(l)?;
                    self.out.write_all(b"\n")?;
                    self.lines_out = self.lines_out.wrapping_add(1);
                }
                LineWork::AcceptHoles => self.accept_date(l, accept)?,
                LineWork::Timers => self.timers(l, accept, time_field)?,
                LineWork::Status => {
                    let b = base(STATUS_FIELD);
                    if b >= l.len() {
                        self.truncated(l)?;
                    } else {
                        self.bump(int_at(l, b));
                    }
                }
                LineWork::CookieCodes | LineWork::TermCodes => {
                    let b = base(TERM_CODES_FIELD);
                    if b >= l.len() {
                        self.truncated(l)?;
                    } else {
                        let o = if self.work == LineWork::CookieCodes {
                            2
                        } else {
                            0
                        };
                        // chars are signed in halog: bytes above 127 count negative; a
                        // short code at the end of the line continues into what follows
                        let hi = ext(b + o) as i8 as i32;
                        let lo = ext(b + o + 1) as i8 as i32;
                        self.bump(256 * hi + lo);
                    }
                }
                LineWork::Servers => self.server(l, accept, time_field)?,
                LineWork::Urls => self.url(l, accept, time_field)?,
                LineWork::Count => {}
            }
        }
        Ok(if self.limit_reached() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    fn bump(&mut self, v: i32) {
        let c = self.values.entry(v).or_insert(0);
        *c = c.wrapping_add(1);
    }

    fn time_field(
        &mut self,
        l: &[u8],
        accept: usize,
        known: Option<usize>,
    ) -> io::Result<Option<usize>> {
        if let Some(t) = known {
            return Ok(Some(t));
        }
        let t = field_start(l, accept, TIME_FIELD - ACCEPT_FIELD + 1);
        if t >= l.len() {
            self.truncated(l)?;
            return Ok(None);
        }
        Ok(Some(t))
    }

    fn accept_date(&mut self, l: &[u8], accept: usize) -> io::Result<()> {
        let v = day_ms(l, accept);
        if v < 0 {
            return self.truncated(l);
        }
        self.bump(v);
        Ok(())
    }

    /// `-pct` (exact values) and `-gt` (values rounded to their 4 highest bits).
    fn timers(&mut self, l: &[u8], accept: usize, known: Option<usize>) -> io::Result<()> {
        let Some(t) = self.time_field(l, accept, known)? else {
            return Ok(());
        };
        let tm = timers(l, t, 5);
        if tm.count < 5 {
            self.parse_err = self.parse_err.wrapping_add(1);
            return Ok(());
        }
        let a = tm.val.map(|v| v.max(-1));
        let q = |v: i32| if self.cfg.graph { quantify(v) } else { v };
        let mut put = |i: usize, v: i32| {
            let c = self.timers[i].entry(q(v)).or_insert(0);
            *c = c.wrapping_add(1);
        };
        if a.iter().any(|&v| v < 0) {
            put(0, a[4]);
            return Ok(());
        }
        put(1, a[0]);
        put(2, a[2]);
        put(3, a[3]);
        let data = a[4]
            .wrapping_sub(a[0])
            .wrapping_sub(a[1])
            .wrapping_sub(a[2])
            .wrapping_sub(a[3]);
        put(4, data);
        if data < 0 && !self.cfg.quiet {
            self.err.write_all(b"ERR: ")?;
            self.err.write_all(l)?;
            writeln!(
                self.err,
                " ({} {} {} {} {} => {})",
                a[0], a[1], a[2], a[3], a[4], data
            )?;
        }
        self.lines_out = self.lines_out.wrapping_add(1);
        Ok(())
    }

    fn server(&mut self, l: &[u8], accept: usize, known: Option<usize>) -> io::Result<()> {
        let b = field_start(l, accept, SERVER_FIELD - ACCEPT_FIELD + 1);
        if b >= l.len() {
            return self.truncated(l);
        }
        let e = field_stop(l, b + 1);
        let name = &l[b..e];
        // read the line first: the server is listed even when the rest cannot be read
        let mut timers_read = None;
        let mut class = None;
        let mut problem = Problem::None;
        let t = match known {
            Some(t) => t,
            None => field_start(l, e, TIME_FIELD - SERVER_FIELD),
        };
        if t >= l.len() {
            problem = Problem::Truncated;
        } else {
            let tm = timers(l, t, 5);
            if tm.count < 5 {
                problem = Problem::Parse;
            } else {
                timers_read = Some(tm.val);
                let b = field_start(l, field_stop(l, t + 1), STATUS_FIELD - TIME_FIELD);
                if b >= l.len() {
                    problem = Problem::Truncated;
                } else {
                    class = Some(match l[b] {
                        c @ b'1'..=b'5' => (c - b'0') as usize,
                        _ => 0,
                    });
                }
            }
        }
        match self.servers.get_mut(name) {
            Some(srv) => srv.add(timers_read, class),
            None => {
                let mut srv = SrvStat::default();
                srv.add(timers_read, class);
                self.servers.insert(Key::new(name), srv);
            }
        }
        match problem {
            Problem::None => Ok(()),
            Problem::Truncated => self.truncated(l),
            Problem::Parse => {
                self.parse_err = self.parse_err.wrapping_add(1);
                Ok(())
            }
        }
    }

    /// The numbers of one request for `-u*` (timers[3] = response time) or `-ic`
    /// (timers[0]): `None` when the line is too short (already reported).
    fn request_stat(
        &mut self,
        l: &[u8],
        accept: usize,
        known: Option<usize>,
        ip: bool,
    ) -> io::Result<Option<(UrlStat, usize)>> {
        let Some(t) = self.time_field(l, accept, known)? else {
            return Ok(None);
        };
        let tm = timers(l, t, 5);
        if tm.count < 5 {
            self.parse_err = self.parse_err.wrapping_add(1);
            return Ok(None);
        }
        let a = tm.val.map(|v| v.max(-1));
        let (main, err) = if ip {
            (a[0], a[0] < 0 || a[4] < 0)
        } else {
            (a[3], a.iter().any(|&v| v < 0))
        };
        let sign = |v: i32| v as i64 as u64;
        let total_time = if main >= 0 { main } else { a[4] };
        let bytes_at = field_start(l, tm.last, BYTES_SENT_FIELD - TIME_FIELD + 1);
        let s = UrlStat {
            nb_req: 1,
            nb_err: err as u32,
            total_time: sign(total_time),
            total_time_ok: sign(main.max(0)),
            total_bytes: sign(int_at(l, bytes_at)),
        };
        Ok(Some((s, bytes_at)))
    }

    fn add_url(&mut self, key: &[u8], s: &UrlStat) {
        match self.urls.get_mut(key) {
            Some(old) => old.add(s),
            None => {
                self.urls.insert(Key::new(key), *s);
            }
        }
    }

    fn url(&mut self, l: &[u8], accept: usize, known: Option<usize>) -> io::Result<()> {
        let Some((s, bytes_at)) = self.request_stat(l, accept, known, false)? else {
            return Ok(());
        };
        // skip captures up to the quoted request (some syslog servers escape the quote)
        let mut e = field_start(l, bytes_at, METH_FIELD - BYTES_SENT_FIELD + 1);
        while e < l.len() && l[e] != b'"' {
            if l[e] == b'\\' && at(l, e + 1) == b'"' {
                break;
            }
            e = field_start(l, e, 2);
        }
        if e >= l.len() {
            return self.truncated(l);
        }
        let mut b = field_start(l, e, URL_FIELD - METH_FIELD + 1);
        if b >= l.len() {
            b = e;
        }
        let keep_query = self.cfg.keep_query;
        let end = l[b..]
            .iter()
            .position(|&c| c == b' ' || (!keep_query && (c == b'?' || c == b';')))
            .map_or(l.len(), |o| b + o);
        self.add_url(&l[b..end], &s);
        Ok(())
    }

    fn count_ip(
        &mut self,
        l: &[u8],
        source: usize,
        accept: usize,
        known: Option<usize>,
    ) -> io::Result<()> {
        let Some((s, _)) = self.request_stat(l, accept, known, true)? else {
            return Ok(());
        };
        // the address without its port (after the last ':'); without any ':' halog keeps
        // the rest of the line
        let e = field_stop(l, source + 1);
        let key = match l[source..e].iter().rposition(|&c| c == b':') {
            Some(c) => &l[source..source + c],
            None => &l[source..],
        };
        self.add_url(key, &s);
        Ok(())
    }

    /// `-hdr <block>:<field>`: one field of one `{a|b}` capture block per line.
    fn capture(
        &mut self,
        l: &[u8],
        accept: usize,
        known: Option<usize>,
        block: u32,
        field: u32,
    ) -> io::Result<()> {
        let mut e = match known {
            Some(t) => field_start(l, t, METH_FIELD - TIME_FIELD + 1),
            None => field_start(l, accept, METH_FIELD - ACCEPT_FIELD + 1),
        };
        for _ in 0..block {
            while e < l.len() && l[e] != b'"' && l[e] != b'{' {
                if l[e] == b'\\' && at(l, e + 1) == b'"' {
                    break;
                }
                e = field_start(l, e, 2);
            }
            if e >= l.len() {
                return self.truncated(l);
            }
            if l[e] != b'{' {
                // the request came first: no such block
                return self.empty_capture();
            }
            e += 1;
        }
        for _ in 1..field {
            match l[e.min(l.len())..]
                .iter()
                .position(|&c| c == b'|' || c == b'}')
            {
                None => return self.truncated(l),
                Some(o) if l[e + o] == b'}' => return self.empty_capture(),
                Some(o) => e += o + 1,
            }
        }
        match l[e.min(l.len())..]
            .iter()
            .position(|&c| c == b'|' || c == b'}')
        {
            None => self.truncated(l),
            Some(o) => {
                self.out.write_all(&l[e..e + o])?;
                self.out.write_all(b"\n")?;
                self.lines_out = self.lines_out.wrapping_add(1);
                Ok(())
            }
        }
    }

    fn empty_capture(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        self.lines_out = self.lines_out.wrapping_add(1);
        Ok(())
    }
}

/// Keeps the 4 highest significant bits of the magnitude of `v` (for `-gt`).
pub fn quantify(v: i32) -> i32 {
    fn q(i: u32) -> u32 {
        let high = 32 - i.leading_zeros();
        if high <= 4 {
            i
        } else {
            i & !((1u32 << (high - 4)) - 1)
        }
    }
    if v >= 0 {
        q(v as u32) as i32
    } else {
        (q(v.wrapping_neg() as u32) as i32).wrapping_neg()
    }
}
