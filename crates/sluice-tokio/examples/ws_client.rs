//! A small WebSocket client: sends each line of stdin as a text message and
//! prints every message received.
//!
//! ```text
//! cargo run -p sluice-tokio --example ws_client -- ws://127.0.0.1:9001/
//! ```

use sluice_tokio::ws::{self, CloseCode, Message, WsConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(run(&url)) {
        eprintln!("ws_client: {e}");
        std::process::exit(1);
    }
}

async fn run(url: &str) -> Result<(), ws::Error> {
    let (socket, _) = ws::connect(url, WsConfig::default()).await?;
    let (mut reader, mut writer) = socket.split();
    let printer = tokio::spawn(async move {
        while let Some(msg) = reader.recv().await {
            match msg {
                Ok(Message::Text(t)) => println!("{}", t.as_str()),
                Ok(Message::Binary(b)) => println!("<{} bytes of binary>", b.len()),
                Err(e) => {
                    eprintln!("error: {e}");
                    break;
                }
            }
        }
        if let Some(info) = reader.close_info() {
            eprintln!("closed: {} {}", info.code.0, info.reason);
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        writer.send(Message::text(line)).await?;
    }
    writer.close(CloseCode::NORMAL, "bye").await?;
    let _ = printer.await;
    Ok(())
}
