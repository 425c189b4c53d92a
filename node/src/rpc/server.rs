//! The HTTP server: limits, the path → [`Endpoint`] layer, and the method table
//! (`specs/rpc.md` ).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use jsonrpsee::RpcModule;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, Server, ServerConfig, ServerHandle,
};
use jsonrpsee::types::Params;

use super::backend::{Endpoint, Gateway};
use super::error::RpcError;
use super::params::Args;
use super::{chain, eth, shardnet};
use shardnet_protocol::ShardId;

/// The gateway's limits and address. Every limit is enforced before the request is parsed
/// further: an oversized body is refused with HTTP 413, an oversized batch with error -32010,
/// connections beyond the limit are closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Largest request body, bytes (a signed transaction is at most 128 KiB).
    pub max_request_body_bytes: u32,
    /// Largest response body, bytes (a block with full transactions, a page of logs).
    pub max_response_body_bytes: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
}

/// The default port, as every Ethereum node and tool assumes.
pub const DEFAULT_RPC_PORT: u16 = 8545;

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_RPC_PORT)),
            max_request_body_bytes: 2 * 1024 * 1024,
            max_response_body_bytes: 16 * 1024 * 1024,
            max_batch: 100,
            max_connections: 128,
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcStartError {
    /// The address could not be bound.
    #[error("binding the RPC server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A method was registered twice (a bug).
    #[error("registering RPC methods: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
}

/// A running RPC server; stops when [`RpcServer::stop`] is called or it is dropped.
#[derive(Debug)]
pub struct RpcServer {
    handle: ServerHandle,
    addr: SocketAddr,
}

impl RpcServer {
    /// The bound address (the port is chosen by the OS if the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`: the gateway endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the open ones to finish.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// Starts serving `gateway` on `rt`: the routing endpoint at `/`, shard N at `/shard/N`.
pub fn start(
    gateway: Gateway,
    cfg: &RpcConfig,
    rt: &tokio::runtime::Handle,
) -> Result<RpcServer, RpcStartError> {
    let bind = |source| RpcStartError::Bind {
        addr: cfg.addr,
        source,
    };
    let listener = std::net::TcpListener::bind(cfg.addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let shards = gateway.shard_map().shards;
    let module = methods(gateway)?;
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_body_bytes)
        .max_response_body_size(cfg.max_response_body_bytes)
        .max_connections(cfg.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .http_only()
        .custom_tokio_runtime(rt.clone())
        .build();
    let _guard = rt.enter();
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(EndpointLayer { shards }))
        .build_from_tcp(listener)
        .map_err(bind)?;
    Ok(RpcServer {
        handle: server.start(module),
        addr,
    })
}

fn endpoint(ext: &jsonrpsee::Extensions) -> Endpoint {
    ext.get::<Endpoint>().copied().unwrap_or(Endpoint::Gateway)
}

/// Registers `name`, taking at most `max` parameters, as a blocking method (every method
/// reads sled or waits on a validator, so none runs on the async threads).
macro_rules! method {
    ($m:ident, $name:literal, $max:expr, |$gw:ident, $ep:ident, $args:ident| $body:expr) => {
        $m.register_blocking_method(
            $name,
            |params: Params<'_>, gw: std::sync::Arc<Gateway>, ext| {
                let run = || -> Result<_, RpcError> {
                    let $args = Args::new($name, &params, $max)?;
                    let $ep = endpoint(&ext);
                    let $gw: &Gateway = &gw;
                    $body
                };
                run()
            },
        )?;
    };
}

fn methods(gateway: Gateway) -> Result<RpcModule<Gateway>, RpcStartError> {
    let mut m = RpcModule::new(gateway);
    method!(m, "eth_chainId", 0, |gw, _ep, _a| Ok(eth::chain_id(gw)));
    method!(m, "net_version", 0, |gw, _ep, _a| Ok(eth::net_version(gw)));
    method!(m, "web3_clientVersion", 0, |_gw, _ep, _a| Ok(
        eth::client_version()
    ));
    method!(m, "eth_syncing", 0, |_gw, _ep, _a| Ok(false));
    // The node holds no user keys: clients sign (the devnet prints its development keys).
    method!(m, "eth_accounts", 0, |_gw, _ep, _a| Ok(Vec::<
        alloy_primitives::Address,
    >::new()));
    method!(m, "eth_blockNumber", 0, |gw, ep, _a| eth::block_number(
        gw, ep
    ));
    method!(m, "eth_getBalance", 2, |gw, ep, a| eth::get_balance(
        gw, ep, &a
    ));
    method!(m, "eth_getTransactionCount", 2, |gw, ep, a| {
        eth::get_transaction_count(gw, ep, &a)
    });
    method!(m, "eth_getCode", 2, |gw, ep, a| eth::get_code(gw, ep, &a));
    method!(m, "eth_getStorageAt", 3, |gw, ep, a| eth::get_storage_at(
        gw, ep, &a
    ));
    method!(m, "eth_call", 2, |gw, ep, a| eth::call(gw, ep, &a));
    method!(m, "eth_estimateGas", 2, |gw, ep, a| eth::estimate_gas(
        gw, ep, &a
    ));
    method!(m, "eth_gasPrice", 0, |gw, ep, _a| eth::gas_price(gw, ep));
    method!(m, "eth_maxPriorityFeePerGas", 0, |_gw, _ep, _a| Ok(
        eth::max_priority_fee()
    ));
    method!(m, "eth_feeHistory", 3, |gw, ep, a| eth::fee_history(
        gw, ep, &a
    ));
    method!(m, "eth_sendRawTransaction", 1, |gw, ep, a| {
        eth::send_raw_transaction(gw, ep, &a)
    });
    method!(m, "eth_getBlockByNumber", 2, |gw, ep, a| {
        chain::get_block_by_number(gw, ep, &a)
    });
    method!(m, "eth_getBlockByHash", 2, |gw, ep, a| {
        chain::get_block_by_hash(gw, ep, &a)
    });
    method!(m, "eth_getTransactionByHash", 1, |gw, ep, a| {
        chain::get_transaction_by_hash(gw, ep, &a)
    });
    method!(m, "eth_getTransactionReceipt", 1, |gw, ep, a| {
        chain::get_transaction_receipt(gw, ep, &a)
    });
    method!(m, "eth_getLogs", 1, |gw, ep, a| chain::get_logs(gw, ep, &a));
    method!(m, "shardnet_shardOf", 1, |gw, _ep, a| shardnet::shard_of(
        gw, &a
    ));
    method!(m, "shardnet_status", 0, |gw, ep, _a| shardnet::status(
        gw, ep
    ));
    method!(m, "shardnet_laneStatus", 0, |gw, ep, _a| {
        shardnet::lane_status(gw, ep)
    });
    method!(m, "shardnet_messageStatus", 1, |gw, ep, a| {
        shardnet::message_status(gw, ep, &a)
    });
    method!(m, "shardnet_finalityProof", 2, |gw, ep, a| {
        shardnet::finality_proof(gw, ep, &a)
    });
    Ok(m)
}

/// The endpoint a path names: `/` the gateway, `/shard/N` shard N.
fn parse_path(path: &str, shards: u16) -> Result<Endpoint, String> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(Endpoint::Gateway);
    }
    let Some(n) = path.strip_prefix("/shard/") else {
        return Err(format!(
            "no JSON-RPC endpoint at {path}: use / (routes by address) or /shard/N"
        ));
    };
    match n.parse::<u16>() {
        Ok(id) if id < shards => Ok(Endpoint::Shard(ShardId(id))),
        _ => Err(format!(
            "no shard {n:?}: this network has shards 0..{}",
            shards.saturating_sub(1)
        )),
    }
}

/// The HTTP layer that reads the path into the request's [`Endpoint`] (the methods read it
/// from their extensions) and answers 404 for any other path.
#[derive(Clone, Debug)]
struct EndpointLayer {
    shards: u16,
}

impl<S> tower::Layer<S> for EndpointLayer {
    type Service = EndpointService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EndpointService {
            inner,
            shards: self.shards,
        }
    }
}

#[derive(Clone, Debug)]
struct EndpointService<S> {
    inner: S,
    shards: u16,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

impl<S, B> tower::Service<HttpRequest<B>> for EndpointService<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: HttpRequest<B>) -> Self::Future {
        match parse_path(req.uri().path(), self.shards) {
            Ok(ep) => {
                req.extensions_mut().insert(ep);
                let fut = self.inner.call(req);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
            Err(message) => {
                let response = HttpResponse::builder()
                    .status(404)
                    .header("content-type", "text/plain")
                    .body(HttpBody::from(message));
                Box::pin(async move { response.map_err(Into::into) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints() {
        assert_eq!(parse_path("/", 2), Ok(Endpoint::Gateway));
        assert_eq!(parse_path("", 2), Ok(Endpoint::Gateway));
        assert_eq!(parse_path("/shard/1", 2), Ok(Endpoint::Shard(ShardId(1))));
        assert_eq!(parse_path("/shard/1/", 2), Ok(Endpoint::Shard(ShardId(1))));
        assert!(parse_path("/shard/2", 2).is_err());
        assert!(parse_path("/shard/x", 2).is_err());
        assert!(parse_path("/rpc", 2).is_err());
    }
}
