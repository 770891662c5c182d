//! The report's language: English, or Japanese (the model case was published in Japanese).
//! Fixed texts are looked up by their English wording ([`Lang::t`]); sentences with numbers
//! are written per language where they are made. Column identifiers of the CSV tables
//! (`stream_bytes`, `gap_bytes` …), codec and status values, file names and frame references
//! stay as they are in every language: they are what the tables contain.

use serde::{Deserialize, Serialize};

/// A report language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.to_ascii_lowercase().as_str() {
            "en" => Ok(Lang::En),
            "ja" => Ok(Lang::Ja),
            other => Err(format!("unknown report language {other:?} (en or ja)")),
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether `l` is English (the default, left out of the manifest).
pub fn is_en(l: &Lang) -> bool {
    *l == Lang::En
}

impl Lang {
    /// BCP 47 code (`lang` attribute).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// `en` in this language (the English text when no translation is known).
    pub fn t(self, en: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Ja => ja(en).unwrap_or(en),
        }
    }

    /// A counter name or other text made at run time, translated when known.
    pub fn dynamic(self, en: &str) -> String {
        match self {
            Lang::En => en.to_string(),
            Lang::Ja => ja(en).map_or_else(|| en.to_string(), str::to_string),
        }
    }

    /// A local day `YYYY-MM-DD` as written in this language (`2014年9月19日`).
    pub fn day(self, iso: &str) -> String {
        match self {
            Lang::En => iso.to_string(),
            Lang::Ja => {
                let mut it = iso.splitn(3, '-');
                match (it.next(), it.next(), it.next()) {
                    (Some(y), Some(m), Some(d)) if y.len() == 4 => {
                        let n = |s: &str| s.trim_start_matches('0').to_string();
                        format!("{y}年{}月{}日", n(m), n(d))
                    }
                    _ => iso.to_string(),
                }
            }
        }
    }

    /// A local time (`YYYY-MM-DD HH:MM:SS zone`, as `fmt::time` writes it) in this language.
    pub fn time(self, shown: &str) -> String {
        match (self, shown.get(..10), shown.get(10..)) {
            (Lang::Ja, Some(d), Some(rest)) if d.as_bytes().get(4) == Some(&b'-') => {
                format!("{}{rest}", self.day(d))
            }
            _ => shown.to_string(),
        }
    }
}

/// Japanese for a fixed English text of the report.
fn ja(en: &str) -> Option<&'static str> {
    Some(match en {
        // Headings.
        "Exfiltration report" => "情報流出調査報告書",
        "1. The case" => "1. 調査対象",
        "2. Data sent to malicious hosts" => "2. 不正なサーバーへ送信されたデータ",
        "Publication table" => "公表用の表",
        "Whose records: the notification list" => "誰の情報か：通知対象の一覧",
        "3. Charts" => "3. グラフ",
        "4. Malicious hosts" => "4. 不正なサーバー",
        "Servers on no IOC list that received recovered records" => {
            "IOC一覧にないが回収済みレコードを受信したサーバー"
        }
        "5. Assumptions and data quality" => "5. 前提条件とデータ品質",
        "Data quality" => "データ品質",
        "6. How to reproduce" => "6. 再現手順",
        // Table heads.
        "capture" => "キャプチャ",
        "format" => "形式",
        "bytes" => "バイト数",
        "frames" => "フレーム数",
        "first frame" => "最初のフレーム",
        "last frame" => "最後のフレーム",
        "kind" => "種別",
        "file" => "ファイル",
        "IOC source" => "IOCファイル",
        "recovered file" => "回収ファイル",
        "period" => "期間",
        "first day" => "初日",
        "last day" => "最終日",
        "day" => "日付",
        "host" => "ホスト",
        "bytes sent" => "送信バイト数",
        "transmissions low" => "送信件数（下限）",
        "transmissions point" => "送信件数（推定値）",
        "transmissions high" => "送信件数（上限）",
        "counted (decoded)" => "計数（復号済み）",
        "distinct records confirmed" => "確認された件数（重複なし）",
        "transmissions explained by confirmed" => "確認済みレコードで説明される送信件数",
        "transmissions not explained" => "説明されない送信件数",
        "reading" => "読み方",
        "content (codec)" => "内容（形式）",
        "status" => "状態",
        "indicators" => "IOC",
        "identified via (first evidence)" => "特定の根拠（最初の証拠）",
        "server addresses" => "サーバーアドレス",
        "flows" => "通信数",
        "first flow" => "最初の通信",
        "last flow" => "最後の通信",
        "days with traffic" => "通信のあった日数",
        "mean record bytes" => "平均レコードサイズ（バイト）",
        "control bytes (excluded)" => "制御通信バイト数（除外）",
        "basis bytes" => "推定の基礎バイト数",
        "records low–high (effect)" => "件数 下限–上限（影響）",
        "bytes skipped behind damage" => "破損により読み飛ばしたバイト数",
        "frames cut by snaplen" => "スナップ長で切り詰められたフレーム数",
        "damage found" => "検出された破損",
        "why it could not be opened" => "開けなかった理由",
        "Capture files that could not be opened, left out of every number in this report:" => {
            "開けなかったキャプチャファイル（この報告書のどの数値にも含まれていません）："
        }
        "counter" => "カウンター",
        "value" => "値",
        "key" => "キー",
        "line" => "行",
        "level" => "確認レベル",
        "first seen" => "初回検出",
        "record" => "レコード",
        "records" => "レコード",
        // Publication table rows.
        "Records possibly taken (staged in the recovered files)" => {
            "持ち出された可能性のある件数（回収ファイルに格納されていた件数）"
        }
        "Records possibly taken (--staged)" => "持ち出された可能性のある件数（調査による）",
        "Record transmissions estimated from traffic volume" => "通信量から推定した送信件数",
        "of which counted in the decoded content" => "うち、復号した通信内容で数えた件数",
        "of which confirmed by content (distinct records)" => {
            "うち、ファイル内容と通信内容の一致により確認できた件数（重複なし）"
        }
        // Paragraphs.
        "Two kinds of number, kept apart. Record transmissions: every record sent, a record \
         sent twice counting twice — counted exactly where the content was decoded, \
         estimated from traffic volume as a range (low–point–high) where it stayed opaque; \
         low, point and high include the counted ones. Distinct records: recovered records \
         found byte for byte in the decoded traffic (confirmed by content), each counted \
         once; the transmissions they explain count every time one was seen. Transmissions \
         not explained are the point estimate minus the explained transmissions (per host, \
         never below zero)." => {
            "2種類の数を区別して示します。送信件数：送信されたレコードの延べ数（2回送信されたレコー\
             ドは2件）。通信内容を復号できた部分は正確に数え、復号できなかった部分は通信量から範囲\
             （下限・推定値・上限）として推定します。下限・推定値・上限は数えた件数を含みます。確認\
             された件数：復号した通信内容の中に回収ファイルのレコードがバイト単位で一致して見つかっ\
             たもの（ファイル内容との一致による確認）で、1件は1回だけ数えます。確認済みレコードで\
             説明される送信件数は、それらが見つかった回数をすべて数えます。説明されない送信件数は、\
             推定値から説明される送信件数を引いたものです（ホストごと、0未満にはしません）。"
        }
        "No flow to any indicator was found in the captures, so no day has traffic to a \
         malicious host." => {
            "キャプチャの中にIOCに該当する通信は見つからなかったため、不正なサーバーへの通信があった日はありません。"
        }
        "Per period and host (hosts with traffic in the period; periods.csv has all):" => {
            "期間・ホスト別（期間内に通信のあったホストのみ。全行は periods.csv）："
        }
        "Per day and host (days with traffic only; daily.csv has every day):" => {
            "日付・ホスト別（通信のあった日のみ。全日は daily.csv）："
        }
        "No flow to any indicator was found in the captures: there is nothing to chart." => {
            "キャプチャの中にIOCに該当する通信は見つからなかったため、グラフはありません。"
        }
        "How each host was identified: `ip` the server address is in an IOC network, `dns` a \
         DNS answer in the capture gave the address of an IOC name, `sni` the TLS ClientHello \
         named it, `host` an HTTP Host header named it, `connect` a proxy CONNECT targeted it, \
         `tunnel` the flow travelled in a tunnel (GRE, VXLAN, Teredo …) with an end in an IOC \
         network; each with the first frame (capture file#frame number) that carried the evidence. The \
         list of flows is ioc_flows.csv." => {
            "各ホストの特定方法：`ip` サーバーアドレスがIOCのネットワークに含まれる、`dns` キャプ\
             チャ内のDNS応答がIOCの名前のアドレスを示した、`sni` TLS ClientHello がその名前を示した、\
             `host` HTTP Host ヘッダーがその名前を示した、`connect` プロキシへの CONNECT の宛先だった、\
             `tunnel` 通信がトンネル（GRE、VXLAN、Teredo など）を通り、その端点がIOCのネットワークに含まれる。\
             それぞれ証拠を含む最初のフレーム（キャプチャファイル#フレーム番号）を示します。通信の一\
             覧は ioc_flows.csv です。"
        }
        "Layers (client→server, whole capture): frames and frame_bytes on the wire, ip_bytes \
         from the IP header, payload_bytes of TCP/UDP, stream_bytes unique after reassembly, \
         retrans_bytes sent again, gap_bytes never captured (inside a stream), truncated_bytes \
         cut by the snapshot length, app_bytes of HTTP bodies and TLS application data, \
         control_bytes of beacons and other small requests, basis_bytes the bytes the \
         estimate divides." => {
            "各層（クライアント→サーバー方向、キャプチャ全体）：frames と frame_bytes は回線上のフ\
             レーム、ip_bytes は IP ヘッダーによる長さ、payload_bytes は TCP/UDP のペイロード、\
             stream_bytes は再構成後の重複のないバイト、retrans_bytes は再送されたバイト、gap_bytes \
             はストリーム内で捕捉されなかったバイト、truncated_bytes はスナップ長で切り詰められたバ\
             イト、app_bytes は HTTP 本文と TLS アプリケーションデータ、control_bytes はビーコンなど\
             の小さな要求、basis_bytes は推定の割り算に使うバイト数です。"
        }
        "The sweep searched every outbound flow: none outside the indicators carried a recovered key or row." => {
            "すべての外向き通信を検索しましたが、IOC以外の通信で回収済みのキーやレコードを運んだものはありませんでした。"
        }
        "Content that decoded to records (plain, base64, zlib, gzip) is counted record \
         by record. Opaque content (encrypted, unknown codec, TLS, raw streams) is \
         divided by the mean record size with r in [1, r_max], point r = √r_max: its \
         range is wide on purpose. Deflate-family content that could not be decoded \
         takes r in the deflate range." => {
            "レコードに復号できた内容（平文、base64、zlib、gzip）は1件ずつ数えます。復号できない内容\
             （暗号化、不明な圧縮形式、TLS、生のストリーム）は、圧縮率 r を [1, r_max]、推定値では \
             r = √r_max として平均レコードサイズで割ります。範囲が広いのは意図したものです。復号でき\
             なかった deflate 系の内容には deflate の圧縮率の範囲を使います。"
        }
        "low = B_low · r_min / μ_hi, high = B_high · r_max / μ_lo, with μ_lo, μ_hi the \
         2.5/97.5 % quantiles of the mean size of n consecutive recovered records \
         (moving-block bootstrap, fixed seed)." => {
            "下限 = B_low · r_min / μ_hi、上限 = B_high · r_max / μ_lo。μ_lo と μ_hi は、連続する n \
             件の回収レコードの平均サイズの 2.5 % と 97.5 % 分位点です（移動ブロック・ブートストラッ\
             プ、乱数の種は固定）。"
        }
        "No recovered files were given: volumes only, no record estimates and nothing \
         confirmed." => {
            "回収ファイルが指定されていないため、通信量のみを示します（件数の推定と確認はありません）。"
        }
        "Per host over the whole capture: the content kinds found, the compression range \
         and mean record size applied to its opaque part, the control bytes left out, the \
         bytes divided, and the range of records that results — a wide range is the \
         effect of opaque content, a single number the effect of counted content." => {
            "ホスト別（キャプチャ全体）：見つかった内容の種類、復号できない部分に適用した圧縮率の範\
             囲と平均レコードサイズ、除外した制御通信のバイト数、割り算に使ったバイト数、その結果の\
             件数の範囲。範囲が広いのは復号できない内容の影響、1つの数になるのは数えた内容の影響で\
             す。"
        }
        "Every number above comes from daily.csv and periods.csv in this folder. To re-derive \
         them, run this command in this folder on input files with the SHA-256 digests of \
         section 1; manifest.json lists the settings, counters and the SHA-256 of every \
         output file to compare with." => {
            "上記の数値はすべて、このフォルダーの daily.csv と periods.csv から取られています。再計算\
             するには、第1節の SHA-256 を持つ入力ファイルに対して、このフォルダーで次のコマンドを実\
             行してください。manifest.json に設定、カウンター、比較用のすべての出力ファイルの \
             SHA-256 があります。"
        }
        // Chart titles and legends.
        "Bytes sent to malicious hosts per day (client→server stream bytes, stacked by host)" => {
            "日別の不正なサーバーへの送信バイト数（クライアント→サーバーのストリームバイト、ホスト別の積み上げ）"
        }
        "Records per day: estimated from traffic volume (bar low–high, tick point) and confirmed by content (dot)" => {
            "日別の件数：通信量からの推定（棒は下限–上限、横線は推定値）とファイル内容との一致による確認（点）"
        }
        "Timeline of flows to malicious hosts (one mark per flow, or per group of flows too close to draw apart; local time)" => {
            "不正なサーバーへの通信の時系列（通信ごとに1つの印。近すぎる通信はまとめて1つ。現地時刻）"
        }
        "estimated from traffic volume (low–high)" => "通信量からの推定（下限–上限）",
        "point estimate" => "推定値",
        "confirmed by content" => "内容の一致により確認",
        // Counters.
        "frames read" => "読み込んだフレーム数",
        "packets decoded" => "復号したパケット数",
        "flows attributed to an indicator" => "IOCに該当した通信数",
        "flows evicted at the flow cap" => "通信数の上限により追い出された通信数",
        "tunnels (tunnels.csv)" => "トンネル数（tunnels.csv）",
        "tunnel frames beyond the tunnel cap (not in tunnels.csv)" => {
            "トンネル数の上限を超えたトンネルのフレーム数（tunnels.csv にはない）"
        }
        "frames stamped before 1990 (outside the covered days)" => {
            "1990年より前の時刻のフレーム数（対象日の外）"
        }
        "gaps from out-of-order buffer caps" => "順序外バッファーの上限による欠落",
        "input files with damage" => "破損のある入力ファイル数",
        "frames cut by the snapshot length" => "スナップ長で切り詰められたフレーム数",
        "bytes searched by --sweep" => "--sweep で検索したバイト数",
        "HTTP bodies scanned" => "調べた HTTP 本文の数",
        "bodies whose decoding stopped (gap, corrupt, size limit)" => {
            "復号が途中で止まった本文の数（欠落、破損、サイズ上限）"
        }
        "bodies sent before their flow was attributed (not scanned)" => {
            "通信がIOCに該当する前に送られた本文の数（調べていない）"
        }
        "bodies decoded as the continuation of the previous request's compressed stream" => {
            "前の要求の圧縮ストリームの続きとして復号した本文の数"
        }
        "bodies declared longer than their connection sent (only the sent bytes count)" => {
            "宣言された長さより前に接続が終わった本文の数（送信された分のみ数える）"
        }
        "IOC entries skipped (--lenient)" => "読み飛ばしたIOCの項目数（--lenient）",
        "period warnings" => "期間の警告数",
        "packets not matching --filter (not analysed)" => "--filter に一致しないパケット数（分析対象外）",
        "packets before --since (not analysed)" => "--since より前のパケット数（分析対象外）",
        "packets at or after --until (not analysed)" => "--until 以降のパケット数（分析対象外）",
        "flows cut at --since (their earlier packets left out)" => {
            "--since で切られた通信数（それより前のパケットを除外）"
        }
        "flows cut at --until (their later packets left out)" => {
            "--until で切られた通信数（それ以降のパケットを除外）"
        }
        "window packets whose flow crossing was not tracked (key cap)" => {
            "期間の境界をまたぐか判定できなかったパケット数（キー数の上限）"
        }
        "IOC entries not used (not network indicators, or not for detection)" => {
            "使用しなかったIOCの項目数（ネットワークの指標でない、または検知用でない）"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_in_japanese() {
        assert_eq!(Lang::Ja.day("2014-09-19"), "2014年9月19日");
        assert_eq!(Lang::En.day("2014-09-19"), "2014-09-19");
        assert_eq!(
            Lang::Ja.time("2014-09-19 10:23:45 +09:00"),
            "2014年9月19日 10:23:45 +09:00"
        );
        assert_eq!(Lang::Ja.day("capture"), "capture");
        assert_eq!("JA".parse::<Lang>(), Ok(Lang::Ja));
        assert!("fr".parse::<Lang>().is_err());
        assert_eq!(Lang::Ja.t("3. Charts"), "3. グラフ");
        assert_eq!(Lang::En.t("3. Charts"), "3. Charts");
    }
}
