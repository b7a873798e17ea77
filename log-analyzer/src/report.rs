//! The reports printed once the input is read, in halog's formats: status counts, codes,
//! accept-date holes, timer graphs and percentiles, per-server and per-URL/source tables,
//! then the "lines in/out" summary on stderr.

use std::io::{self, Write};

use crate::analyze::Analyzer;
use crate::args::Report;

impl<O: Write, E: Write> Analyzer<'_, O, E> {
    /// Prints the report asked for and the summary.
    pub fn report(&mut self) -> io::Result<()> {
        match self.cfg.report() {
            Report::Count => {
                writeln!(self.out, "{}", self.lines_out)?;
                return Ok(());
            }
            Report::AcceptHoles => self.accept_holes()?,
            Report::Graph => self.graph()?,
            Report::Percentiles => self.percentiles()?,
            Report::Status => self.statuses()?,
            Report::Servers => self.servers()?,
            Report::Codes => self.codes()?,
            Report::Urls => self.urls()?,
            Report::Nothing => {}
        }
        if !self.cfg.quiet {
            writeln!(
                self.err,
                "{} lines in, {} lines out, {} parsing errors",
                self.linenum, self.lines_out, self.parse_err
            )?;
        }
        Ok(())
    }

    fn sorted_values(&self) -> Vec<(i32, u32)> {
        let mut v: Vec<(i32, u32)> = self.values.iter().map(|(&k, &c)| (k, c)).collect();
        v.sort_unstable();
        v
    }

    /// `<status> <count>` by status.
    fn statuses(&mut self) -> io::Result<()> {
        for (k, c) in self.sorted_values() {
            writeln!(self.out, "{k} {c}")?;
            self.lines_out = self.lines_out.wrapping_add(1);
            if self.limit_reached() {
                break;
            }
        }
        Ok(())
    }

    /// `<2 chars> <count>` by code.
    fn codes(&mut self) -> io::Result<()> {
        for (k, c) in self.sorted_values() {
            self.out.write_all(&[(k >> 8) as u8, k as u8])?;
            writeln!(self.out, " {c}")?;
            self.lines_out = self.lines_out.wrapping_add(1);
            if self.limit_reached() {
                break;
            }
        }
        Ok(())
    }

    /// `<hh:mm:ss.mmm> <ms of day> <ms since the previous accept> <accepts>` for the
    /// milliseconds with at least `-ac` accepts after at least `-ad` ms without any.
    fn accept_holes(&mut self) -> io::Result<()> {
        let delay = self.cfg.acc_delay.unwrap_or(0);
        let min_count = self.cfg.acc_count.unwrap_or(0);
        let v = self.sorted_values();
        let Some(&(first, _)) = v.first() else {
            return Ok(());
        };
        let mut last = first as u32;
        for (k, c) in v {
            let h = k as u32;
            let d = h.wrapping_sub(last);
            last = h;
            if d >= delay && c >= min_count {
                let (ms, t) = (h % 1000, h / 1000);
                let (s, t) = (t % 60, t / 60);
                let (m, t) = (t % 60, t / 60);
                writeln!(
                    self.out,
                    "{t:02}:{m:02}:{s:02}.{ms:03} {} {d} {c}",
                    last as i32
                )?;
                self.lines_out = self.lines_out.wrapping_add(1);
                if self.limit_reached() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `<timer> <value> <weight>`: occurrences of the quantized values, divided by the
    /// width of their quantization step.
    fn graph(&mut self) -> io::Result<()> {
        for f in 0..5 {
            let mut v: Vec<(i32, u32)> = self.timers[f].iter().map(|(&k, &c)| (k, c)).collect();
            v.sort_unstable();
            for (k, c) in v {
                let width = (32 - k.unsigned_abs().leading_zeros()) as i32 - 4;
                let n = c as i32 as f64;
                let d = if width > 0 {
                    n / (1u32 << width) as f64
                } else {
                    n
                };
                if d > 0.0 {
                    writeln!(self.out, "{f} {k} {:.6}", d + 1.0)?;
                }
            }
        }
        Ok(())
    }

    /// `<percent> <lines> <request> <connect> <response> <data>`: the times under which
    /// that percentage of the requests without aborted timer completed.
    fn percentiles(&mut self) -> io::Result<()> {
        if self.lines_out == 0 {
            return Ok(());
        }
        let mut cols: Vec<Vec<(i32, u32)>> = Vec::with_capacity(4);
        for t in &self.timers[1..5] {
            let mut v: Vec<(i32, u32)> = t.iter().map(|(&k, &c)| (k, c)).collect();
            v.sort_unstable();
            if v.is_empty() {
                return Ok(());
            }
            cols.push(v);
        }
        let mut pos = [0usize; 4];
        let mut cum: [u64; 4] = [0; 4];
        for (f, col) in cols.iter().enumerate() {
            cum[f] = col[0].1 as u64;
        }
        let mut step = 1.0f64;
        while step <= 1000.0 {
            let thres = (self.lines_out as f64 * (step / 1000.0)) as u32;
            write!(self.out, "{:.1} {} ", step / 10.0, thres)?;
            for (f, col) in cols.iter().enumerate() {
                while cum[f] < thres as u64 && pos[f] + 1 < col.len() {
                    pos[f] += 1;
                    cum[f] += col[pos[f]].1 as u64;
                }
                write!(self.out, "{} ", col[pos[f]].0)?;
            }
            self.out.write_all(b"\n")?;
            step += if (100.0..900.0).contains(&step) {
                50.0
            } else if (20.0..980.0).contains(&step) {
                10.0
            } else {
                1.0
            };
        }
        Ok(())
    }

    fn servers(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok pct_ok avg_ct avg_rt"
        )?;
        let mut names: Vec<&[u8]> = self.servers.keys().map(|k| k.bytes()).collect();
        names.sort_unstable();
        let mut lines: i32 = 0;
        for name in names {
            let Some(s) = self.servers.get(name) else {
                continue;
            };
            let tot = s.st_cnt.iter().fold(0u32, |a, &c| a.wrapping_add(c)) as i32;
            let pct = s.nb_ok as f64 * 100.0 / (if tot != 0 { tot } else { 1 }) as f64;
            let ct = (s.cum_ct / s.nb_ct.max(1) as u64) as i32;
            let rt = (s.cum_rt / s.nb_rt.max(1) as u64) as i32;
            self.out.write_all(name)?;
            writeln!(
                self.out,
                " {} {} {} {} {} {} {} {} {:.1} {} {}",
                s.st_cnt[1],
                s.st_cnt[2],
                s.st_cnt[3],
                s.st_cnt[4],
                s.st_cnt[5],
                s.st_cnt[0],
                tot,
                s.nb_ok,
                pct,
                ct,
                rt
            )?;
            lines = lines.wrapping_add(1);
            if self.cfg.lines_max >= 0 && self.lines_out.wrapping_add(lines) >= self.cfg.lines_max {
                break;
            }
        }
        self.lines_out = self.lines_out.wrapping_add(lines);
        Ok(())
    }

    /// Per URL (`-u*`) or per source (`-ic`), in decreasing order of the chosen key.
    fn urls(&mut self) -> io::Result<()> {
        let sort = self.cfg.url;
        let key = |s: &crate::analyze::UrlStat| -> u64 {
            let ok = s.nb_req.wrapping_sub(s.nb_err);
            if sort.count || self.cfg.ip {
                s.nb_req as u64
            } else if sort.err {
                s.nb_err as u64
            } else if sort.ttot {
                s.total_time
            } else if sort.tavg {
                if s.nb_req != 0 {
                    s.total_time / s.nb_req as u64
                } else {
                    0
                }
            } else if sort.ttot_ok {
                s.total_time_ok
            } else if sort.tavg_ok {
                if ok != 0 {
                    s.total_time_ok / ok as u64
                } else {
                    0
                }
            } else if sort.bavg {
                if s.nb_req != 0 {
                    s.total_bytes / s.nb_req as u64
                } else {
                    0
                }
            } else if sort.btot {
                s.total_bytes
            } else {
                0
            }
        };
        // ties keep the order of the names, the table being read backwards
        let mut rows: Vec<(u64, &[u8], &crate::analyze::UrlStat)> = self
            .urls
            .iter()
            .map(|(k, s)| (if sort.by_url { 0 } else { key(s) }, k.bytes(), s))
            .collect();
        rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        writeln!(self.out, "#req err ttot tavg oktot okavg bavg btot src")?;
        let mut lines: i32 = 0;
        for (_, url, s) in rows.iter().rev() {
            let ok = s.nb_req.wrapping_sub(s.nb_err);
            write!(
                self.out,
                "{} {} {} {} {} {} {} {} ",
                s.nb_req,
                s.nb_err,
                s.total_time,
                if s.nb_req != 0 {
                    s.total_time / s.nb_req as u64
                } else {
                    0
                },
                s.total_time_ok,
                if ok != 0 {
                    s.total_time_ok / ok as u64
                } else {
                    0
                },
                if s.nb_req != 0 {
                    s.total_bytes / s.nb_req as u64
                } else {
                    0
                },
                s.total_bytes,
            )?;
            self.out.write_all(url)?;
            self.out.write_all(b"\n")?;
            lines = lines.wrapping_add(1);
            if self.cfg.lines_max >= 0 && self.lines_out.wrapping_add(lines) >= self.cfg.lines_max {
                break;
            }
        }
        self.lines_out = self.lines_out.wrapping_add(lines);
        Ok(())
    }
}
