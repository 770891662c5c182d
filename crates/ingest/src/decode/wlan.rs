//! IEEE 802.11 data frames (link types 105, and 127 behind a radiotap header): the MAC header
//! (24 bytes, 30 with four addresses, plus QoS control and HT control when present), then an
//! LLC/SNAP header naming the EtherType. Management and control frames, frames without a body
//! (null data) and protected (encrypted) frames carry no IP packet we can read: each is a
//! named skip.

use super::{link, SkipReason, VlanTags, WlanReason};
use crate::frame::LinkType;

/// A radiotap header (version 0; its length is a little-endian u16 at byte 2), then 802.11.
pub(crate) fn radiotap(data: &[u8]) -> Result<(VlanTags, &[u8]), SkipReason> {
    let link = LinkType::IEEE802_11_RADIOTAP;
    let [0, _, l0, l1, ..] = data else {
        return Err(SkipReason::TruncatedLinkHeader(link));
    };
    let len = usize::from(u16::from_le_bytes([*l0, *l1]));
    match data.get(len..) {
        Some(f) if len >= 8 => frame(f, true),
        _ => Err(SkipReason::TruncatedLinkHeader(link)),
    }
}

/// One 802.11 frame.
pub(crate) fn frame(f: &[u8], radiotap: bool) -> Result<(VlanTags, &[u8]), SkipReason> {
    let link = if radiotap {
        LinkType::IEEE802_11_RADIOTAP
    } else {
        LinkType::IEEE802_11
    };
    let [fc0, fc1, ..] = f else {
        return Err(SkipReason::TruncatedLinkHeader(link));
    };
    let (kind, subtype) = ((fc0 >> 2) & 0x03, fc0 >> 4);
    if fc0 & 0x03 != 0 || kind != 2 {
        return Err(SkipReason::Wlan(WlanReason::Management));
    }
    if subtype & 0x04 != 0 {
        return Err(SkipReason::Wlan(WlanReason::NoBody));
    }
    if fc1 & 0x40 != 0 {
        return Err(SkipReason::Wlan(WlanReason::Protected));
    }
    let qos = subtype & 0x08 != 0;
    let mut hl = 24;
    if fc1 & 0x03 == 0x03 {
        hl += 6; // fourth address (WDS / mesh)
    }
    let mut amsdu = false;
    if qos {
        amsdu = f.get(hl).is_some_and(|b| b & 0x80 != 0);
        hl += 2;
        if fc1 & 0x80 != 0 {
            hl += 4; // HT control
        }
    }
    let mut body = f.get(hl..).ok_or(SkipReason::TruncatedLinkHeader(link))?;
    if amsdu {
        // An A-MSDU aggregates subframes (DA, SA, length, then LLC/SNAP), each a packet of its
        // own: one frame becomes one packet here, so only a frame of a single subframe is read.
        let [_, _, _, _, _, _, _, _, _, _, _, _, l0, l1, rest @ ..] = body else {
            return Err(SkipReason::TruncatedLinkHeader(link));
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        // What may follow the one subframe: up to 3 bytes of padding and a 4-byte FCS.
        if rest.len() > len + 3 + 4 {
            return Err(SkipReason::Wlan(WlanReason::Amsdu));
        }
        body = &rest[..len.min(rest.len())];
    }
    match body {
        [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00 | 0xF8, t0, t1, rest @ ..] => {
            link::ethertype(u16::from_be_bytes([*t0, *t1]), rest, VlanTags::default())
        }
        _ if body.len() < 8 => Err(SkipReason::TruncatedLinkHeader(link)),
        _ => Err(SkipReason::Llc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    fn data_frame(subtype: u8, flags: u8, extra: &[u8]) -> Vec<u8> {
        let mut v = vec![(subtype << 4) | 0x08, flags, 0, 0];
        v.extend_from_slice(&[0u8; 20]); // three addresses, sequence control
        v.extend_from_slice(extra);
        v
    }

    fn snap(v: &mut Vec<u8>) {
        v.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        v.extend_from_slice(IP);
    }

    #[test]
    fn plain_and_qos_data_frames_carry_ip_behind_llc_snap() {
        let mut f = data_frame(0, 0x01, &[]);
        snap(&mut f);
        assert_eq!(frame(&f, false).unwrap().1, IP);
        // QoS data (subtype 8) with HT control (order bit) and four addresses.
        let mut f = data_frame(8, 0x83, &[0u8; 6 + 2 + 4]);
        snap(&mut f);
        assert_eq!(frame(&f, false).unwrap().1, IP);
    }

    #[test]
    fn radiotap_header_is_skipped_by_its_length() {
        let mut f = vec![0, 0, 12, 0, 0, 0, 0, 0, 9, 9, 9, 9];
        let mut d = data_frame(0, 0x02, &[]);
        snap(&mut d);
        f.extend_from_slice(&d);
        assert_eq!(radiotap(&f).unwrap().1, IP);
        assert_eq!(
            radiotap(&f[..10]).unwrap_err(),
            SkipReason::TruncatedLinkHeader(LinkType::IEEE802_11_RADIOTAP)
        );
    }

    #[test]
    fn management_null_and_protected_frames_are_named_skips() {
        let beacon = [0x80u8, 0, 0, 0, 0, 0];
        assert_eq!(
            frame(&beacon, false).unwrap_err(),
            SkipReason::Wlan(WlanReason::Management)
        );
        let null = data_frame(4, 0x01, &[]);
        assert_eq!(
            frame(&null, false).unwrap_err(),
            SkipReason::Wlan(WlanReason::NoBody)
        );
        let mut wep = data_frame(0, 0x41, &[]);
        snap(&mut wep);
        assert_eq!(
            frame(&wep, false).unwrap_err(),
            SkipReason::Wlan(WlanReason::Protected)
        );
    }

    #[test]
    fn an_a_msdu_of_one_subframe_is_read_and_of_two_is_a_skip() {
        let mut sub = vec![0u8; 12];
        let mut body = Vec::new();
        snap(&mut body);
        sub.extend_from_slice(&(body.len() as u16).to_be_bytes());
        sub.extend_from_slice(&body);
        let mut one = data_frame(8, 0x01, &[0x80, 0]);
        one.extend_from_slice(&sub);
        assert_eq!(frame(&one, false).unwrap().1, IP);
        let mut two = one.clone();
        two.extend_from_slice(&[0u8; 3]);
        two.extend_from_slice(&sub);
        assert_eq!(
            frame(&two, false).unwrap_err(),
            SkipReason::Wlan(WlanReason::Amsdu)
        );
    }
}
