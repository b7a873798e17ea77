//! halog's command line: the flags, how their values are read (C `atol`), which per-line
//! work and which report they select, and the usage and help texts.

use std::io::Write;

/// Sort keys of the per-URL report (`-u*`), several may be given.
#[derive(Default, Clone, Copy)]
pub struct UrlSort {
    pub by_url: bool,
    pub count: bool,
    pub err: bool,
    pub ttot: bool,
    pub tavg: bool,
    pub ttot_ok: bool,
    pub tavg_ok: bool,
    pub bavg: bool,
    pub btot: bool,
}

impl UrlSort {
    pub fn any(&self) -> bool {
        self.by_url
            || self.count
            || self.err
            || self.ttot
            || self.tavg
            || self.ttot_ok
            || self.tavg_ok
            || self.bavg
            || self.btot
    }
}

/// Everything the command line asked for.
#[derive(Default)]
pub struct Config {
    // input filters
    pub http_only: bool,
    pub errors: bool,
    pub errors_invert: bool,
    pub resp_time: Option<i32>,
    pub resp_time_invert: bool,
    pub queue: bool,
    pub queue_srv: bool,
    pub term_code: Option<Vec<u8>>,
    pub term_code_invert: bool,
    pub status: Option<(i32, i32)>,
    pub status_invert: bool,
    pub time: Option<(u32, u32)>,
    pub acc_delay: Option<u32>,
    pub acc_count: Option<u32>,
    // modifiers
    pub invert: bool,
    pub quiet: bool,
    pub lines_max: i32,
    pub skip_fields: i32,
    pub keep_query: bool,
    // outputs
    pub count_only: bool,
    pub graph: bool,
    pub pct: bool,
    pub status_count: bool,
    pub srv: bool,
    pub cookie_codes: bool,
    pub term_codes: bool,
    pub url: UrlSort,
    pub ip: bool,
    pub capture: Option<(u32, u32)>,
}

/// The work done on each selected line, chosen in halog's order of precedence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LineWork {
    AcceptHoles,
    Timers,
    Status,
    CookieCodes,
    TermCodes,
    Servers,
    Urls,
    /// `-c` with nothing that collects: only count.
    Count,
    /// Print the line (no output format given).
    Print,
}

/// The report printed at the end, in halog's order of precedence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Report {
    Count,
    AcceptHoles,
    Graph,
    Percentiles,
    Status,
    Servers,
    Codes,
    Urls,
    /// Lines were printed as they came; only the summary on stderr remains.
    Nothing,
}

impl Config {
    pub fn line_work(&self) -> LineWork {
        if self.acc_delay.is_some() || self.acc_count.is_some() {
            LineWork::AcceptHoles
        } else if self.graph || self.pct {
            LineWork::Timers
        } else if self.status_count {
            LineWork::Status
        } else if self.cookie_codes {
            LineWork::CookieCodes
        } else if self.term_codes {
            LineWork::TermCodes
        } else if self.srv {
            LineWork::Servers
        } else if self.url.any() {
            LineWork::Urls
        } else if self.count_only {
            LineWork::Count
        } else {
            LineWork::Print
        }
    }

    pub fn report(&self) -> Report {
        if self.count_only {
            Report::Count
        } else if self.acc_delay.is_some() || self.acc_count.is_some() {
            Report::AcceptHoles
        } else if self.graph {
            Report::Graph
        } else if self.pct {
            Report::Percentiles
        } else if self.status_count {
            Report::Status
        } else if self.srv {
            Report::Servers
        } else if self.term_codes || self.cookie_codes {
            Report::Codes
        } else if self.url.any() || self.ip {
            Report::Urls
        } else {
            Report::Nothing
        }
    }

    /// Whether any filter needs the fields of the line (otherwise `-c` only counts lines).
    pub fn has_input_filter(&self) -> bool {
        self.http_only
            || self.resp_time.is_some()
            || self.errors
            || self.status.is_some()
            || self.queue
            || self.queue_srv
            || self.term_code.is_some()
            || self.time.is_some()
    }

    /// halog refuses to run without something to do; `-v`, `-m`, `-s` alone are not.
    fn has_action(&self) -> bool {
        self.line_work() != LineWork::Print
            || self.report() != Report::Nothing
            || self.has_input_filter()
            || self.quiet
            || self.keep_query
            || self.ip
            || self.capture.is_some()
    }
}

/// Why the program stops before reading: a message for stderr with the usage (exit 1), or
/// the help on stdout (exit 0).
pub enum Exit {
    Fail(String),
    Help,
}

/// C `atol`: leading white space, a sign, digits; saturating; 0 when there is no number.
pub fn atol(s: &str) -> i64 {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    v
}

/// Parses the arguments (without the program name) like halog: options are read while they
/// start with '-', unknown ones are ignored, the first other word ends the options.
pub fn parse(args: &[String]) -> Result<Config, Exit> {
    let mut c = Config {
        lines_max: -1,
        skip_fields: 1,
        ..Config::default()
    };
    let mut output_file = false;
    let fail = |m: &str| Exit::Fail(m.to_string());
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if !a.starts_with('-') {
            break;
        }
        let next = args.get(i + 1).map(String::as_str);
        let mut value = |msg: &str| -> Result<&str, Exit> {
            match next {
                Some(v) => {
                    i += 1;
                    Ok(v)
                }
                None => Err(fail(msg)),
            }
        };
        match a {
            "-ad" => c.acc_delay = Some(atol(value("missing option for -ad\n")?) as u32),
            "-ac" => c.acc_count = Some(atol(value("missing option for -ac\n")?) as u32),
            "-rt" => c.resp_time = Some(atol(value("missing option for -rt\n")?) as i32),
            "-RT" => {
                c.resp_time = Some(atol(value("missing option for -RT\n")?) as i32);
                c.resp_time_invert = true;
            }
            "-s" => c.skip_fields = atol(value("missing option for -s\n")?) as i32,
            "-m" => c.lines_max = atol(value("missing option for -m\n")?) as i32,
            "-e" => c.errors = true,
            "-E" => {
                c.errors = true;
                c.errors_invert = true;
            }
            "-H" => c.http_only = true,
            "-Q" => c.queue = true,
            "-QS" => c.queue_srv = true,
            "-c" => c.count_only = true,
            "-q" => c.quiet = true,
            "-v" => c.invert = !c.invert,
            "-gt" => c.graph = true,
            "-pct" => c.pct = true,
            "-st" => c.status_count = true,
            "-srv" => c.srv = true,
            "-cc" => c.cookie_codes = true,
            "-tc" => c.term_codes = true,
            "-tcn" => c.term_code = Some(value("missing option for -tcn\n")?.as_bytes().to_vec()),
            "-TCN" => {
                c.term_code = Some(value("missing option for -TCN\n")?.as_bytes().to_vec());
                c.term_code_invert = true;
            }
            "-hs" | "-HS" => {
                let v = value("missing option for -hs/-HS ([min]:[max])\n")?;
                if a == "-HS" {
                    c.status_invert = true;
                }
                // "a:b", ":b", "a:", or "a" for exactly a
                let (lo, hi) = match v.split_once(':') {
                    Some((lo, hi)) => (lo, hi),
                    None => (v, v),
                };
                let lo = if lo.is_empty() { 0 } else { atol(lo) as i32 };
                let hi = if hi.is_empty() {
                    65535
                } else {
                    atol(hi) as i32
                };
                c.status = Some((lo, hi));
            }
            "-time" => {
                let v = value("missing option for -time ([min]:[max])\n")?;
                let lo = if v.is_empty() { 0 } else { atol(v) as u32 };
                // "a:" means an upper bound of 0, as in halog
                let hi = match v.split_once(':') {
                    Some((_, hi)) => atol(hi) as u32,
                    None => u32::MAX,
                };
                c.time = Some((lo, hi));
            }
            "-u" => c.url.by_url = true,
            "-uc" => c.url.count = true,
            "-ue" => c.url.err = true,
            "-ua" => c.url.tavg = true,
            "-ut" => c.url.ttot = true,
            "-uao" => c.url.tavg_ok = true,
            "-uto" => c.url.ttot_ok = true,
            "-uba" => c.url.bavg = true,
            "-ubt" => c.url.btot = true,
            "-query" => c.keep_query = true,
            "-ic" => c.ip = true,
            "-hdr" => {
                let v = value("missing option for -hdr (<block>:<field>)\n")?;
                let Some((b, f)) = v.split_once(':') else {
                    return Err(fail("missing colon in -hdr (<block>:<field>)\n"));
                };
                let b = if b.is_empty() { 1 } else { atol(b) as u32 };
                let f = if f.is_empty() { 1 } else { atol(f) as u32 };
                if b < 1 || f < 1 {
                    return Err(fail(
                        "block and field must be at least 1 for -hdr (<block>:<field>)\n",
                    ));
                }
                c.capture = Some((b, f));
            }
            "-o" => {
                // accepted for compatibility; like halog, the name is not consumed, so it
                // ends the options, and nothing is written to it
                if output_file {
                    return Err(fail("Fatal: output file name already specified.\n"));
                }
                if next.is_none() {
                    return Err(fail("Fatal: missing output file name.\n"));
                }
                output_file = true;
            }
            "-h" | "--help" => return Err(Exit::Help),
            _ => {}
        }
        i += 1;
    }
    if !c.has_action() {
        return Err(fail("No action specified.\n"));
    }
    if c.acc_count == Some(0) {
        c.acc_count = Some(1);
    }
    if c.acc_delay == Some(0) {
        c.acc_delay = Some(1);
    }
    Ok(c)
}

const USAGE: &str = "Usage:
  halo-log [-h|--help] for long help
  halo-log [input_filters]* [modifiers]* [output_format] < log
    inp = [-e|-E] [-H] [-Q|-QS] [-rt|-RT <time>] [-ad <delay>] [-ac <count>]
          [-hs|-HS [min][:[max]]] [-tcn|-TCN <termcode>] [-time [min][:[max]]]
    mod = [-q] [-v] [-m <lines>] [-s <skipflds>] [-query]
    out = {-c|-u|-uc|-ue|-ua|-ut|-uao|-uto|-uba|-ubt|-hdr <block>:<field>|
           -cc|-gt|-pct|-st|-tc|-srv|-ic}

";

const HELP: &str = "Input filters - several filters may be combined
 -H                      only match lines containing HTTP logs (ignore TCP)
 -E                      only match lines without any error (no 5xx status)
 -e                      only match lines with errors (status 5xx or negative)
 -rt|-RT <time>          only match response times larger|smaller than <time>
 -Q|-QS                  only match queued requests (any queue|server queue)
 -tcn|-TCN <code>        only match requests with/without termination code <code>
 -hs|-HS <[min][:][max]> only match requests with HTTP status codes within/not
                         within min..max. Any of them may be omitted. Exact
                         code is checked for if no ':' is specified.
 -time <[min][:max]>     only match requests recorded between timestamps.
                         Any of them may be omitted.
 -ad <delay> -ac <count> report accept-date holes: <count> requests accepted in
                         the same millisecond after at least <delay> ms without
                         any (<time> <ms of day> <delta ms> <count>)
Modifiers
 -v                      invert the input filtering condition
 -q                      don't report errors/warnings
 -m <lines>              limit output to the first <lines> lines
 -s <skip_n_fields>      skip n fields from the beginning of a line (default 5)
                         you can also use -n to start from earlier then field 5
                         (lines without a syslog prefix, as on stdout: -s -4)
 -query                  preserve the query string for per-URL (-u*) statistics

Output format - only one may be used at a time
 -c    only report the number of lines that would have been printed
 -pct  output connect and response times percentiles
 -st   output number of requests per HTTP status code
 -cc   output number of requests per cookie code (2 chars)
 -tc   output number of requests per termination code (2 chars)
 -srv  output statistics per server (time, requests, errors)
 -ic   output statistics per ip count (time, requests, errors)
 -gt   output timer graphs (timer index, quantized value, weight)
 -u*   output statistics per URL (time, requests, errors)
       Additional characters indicate the output sorting key :
       -u : by URL, -uc : request count, -ue : error count
       -ua : average response time, -ut : average total time
       -uao, -uto: average times computed on valid ('OK') requests
       -uba, -ubt: average bytes returned, total bytes returned
 -hdr  output captured header at the given <block>:<field>
";

/// Prints `msg` and the usage on stderr.
pub fn print_usage_error(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "{msg}{USAGE}");
}

/// Prints the long help on stdout.
pub fn print_help() {
    let mut o = std::io::stdout().lock();
    let _ = write!(o, "{USAGE}{HELP}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Config, Exit> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn atol_like_c() {
        assert_eq!(atol(" -42x"), -42);
        assert_eq!(atol("abc"), 0);
        assert_eq!(atol("+7"), 7);
        assert_eq!(atol("99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn actions_and_errors() {
        assert!(matches!(p(&[]), Err(Exit::Fail(_))));
        assert!(matches!(p(&["-v"]), Err(Exit::Fail(_))));
        assert!(matches!(p(&["-m", "3"]), Err(Exit::Fail(_))));
        assert!(matches!(p(&["-o", "x", "-st"]), Err(Exit::Fail(_))));
        assert!(matches!(p(&["-hdr", "1"]), Err(Exit::Fail(_))));
        assert!(matches!(p(&["-h"]), Err(Exit::Help)));
        let c = p(&["-q"]).unwrap_or_default();
        assert_eq!(c.line_work(), LineWork::Print);
        let c = p(&["-st", "-u", "x", "-srv"]).unwrap_or_default();
        assert_eq!(
            (c.line_work(), c.report()),
            (LineWork::Status, Report::Status)
        );
        let c = p(&["-hs", "500", "-time", "5:"]).unwrap_or_default();
        assert_eq!(c.status, Some((500, 500)));
        assert_eq!(c.time, Some((5, 0)));
    }
}
