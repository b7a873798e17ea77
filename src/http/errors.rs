//! HAProxy's default error answers, written as they are: as a stream sends them (field
//! names in lower case, what HAProxy 2.6 sends), and as its HTTP/1 layer sends the errors
//! it detects before a request is complete (HAProxy's built-in text, names capitalised).

/// The answer for `status`; codes without a page of their own get the 500 one.
pub fn default_page(status: u16) -> &'static [u8] {
    match status {
        200 => PAGE_200,
        400 => PAGE_400,
        401 => PAGE_401,
        403 => PAGE_403,
        404 => PAGE_404,
        405 => PAGE_405,
        407 => PAGE_407,
        408 => PAGE_408,
        410 => PAGE_410,
        413 => PAGE_413,
        414 => PAGE_414,
        421 => PAGE_421,
        422 => PAGE_422,
        425 => PAGE_425,
        429 => PAGE_429,
        431 => PAGE_431,
        501 => PAGE_501,
        502 => PAGE_502,
        503 => PAGE_503,
        504 => PAGE_504,
        _ => PAGE_500,
    }
}

/// The answer HAProxy's HTTP/1 layer sends for an error found while reading a request head
/// (400, 408, 413, 422...): its built-in text, whatever pages the proxy has (an empty
/// `errorfile` of the frontend silences it instead: see `http::pages::early_page`).
pub fn early_default(status: u16) -> &'static [u8] {
    match status {
        400 => RAW_400,
        408 => RAW_408,
        413 => RAW_413,
        422 => RAW_422,
        501 => RAW_501,
        500 => RAW_500,
        _ => default_page(status),
    }
}

/// Whether the page closes the connection (400 and 408 do, as in HAProxy).
pub fn closes(status: u16) -> bool {
    matches!(status, 400 | 408)
}

const PAGE_200: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n";
const PAGE_400: &[u8] = b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
const PAGE_401: &[u8] = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
const PAGE_403: &[u8] = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n";
const PAGE_404: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 83\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n";
const PAGE_405: &[u8] = b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 146\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n";
const PAGE_407: &[u8] = b"HTTP/1.1 407 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
const PAGE_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\ncontent-length: 110\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const PAGE_410: &[u8] = b"HTTP/1.1 410 Gone\r\ncontent-length: 114\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n";
const PAGE_413: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 106\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n";
const PAGE_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 110\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>414 URI Too Long</h1>\nThe URI provided was too long for the server to process.\n</body></html>\n";
const PAGE_421: &[u8] = b"HTTP/1.1 421 Misdirected Request\r\ncontent-length: 104\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>421 Misdirected Request</h1>\nRequest sent to a non-authoritative server.\n</body></html>\n";
const PAGE_422: &[u8] = b"HTTP/1.1 422 Unprocessable Content\r\ncontent-length: 116\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n";
const PAGE_425: &[u8] = b"HTTP/1.1 425 Too Early\r\ncontent-length: 80\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n";
const PAGE_429: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 117\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n";
const PAGE_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 106\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>431 Request Header Fields Too Large</h1>\n>Request Header Fields Too Large.\n</body></html>\n";
const PAGE_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 97\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n";
const PAGE_501: &[u8] = b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 136\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n";
const PAGE_502: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";
const PAGE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const PAGE_504: &[u8] = b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 92\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";

const RAW_400: &[u8] = b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
const RAW_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const RAW_413: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n";
const RAW_422: &[u8] = b"HTTP/1.1 422 Unprocessable Content\r\nContent-length: 116\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n";
const RAW_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-length: 97\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n";
const RAW_501: &[u8] = b"HTTP/1.1 501 Not Implemented\r\nContent-length: 136\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_bodies() {
        for s in halo_config::errorfile::ERROR_CODES {
            for page in [default_page(s), early_default(s)] {
                let text = std::str::from_utf8(page).unwrap();
                let (head, body) = text.split_once("\r\n\r\n").unwrap();
                let cl: usize = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .or(l.strip_prefix("Content-length: "))
                    })
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(cl, body.len(), "status {s}");
                assert!(head.starts_with(&format!("HTTP/1.1 {s} ")));
            }
            // The same page, names aside.
            let low = |p: &[u8]| {
                let t = String::from_utf8(p.to_vec()).unwrap().to_ascii_lowercase();
                let mut l: Vec<String> = t.lines().map(String::from).collect();
                l.sort();
                l
            };
            assert_eq!(low(default_page(s)), low(early_default(s)), "status {s}");
        }
        assert!(closes(408) && !closes(503));
    }
}
