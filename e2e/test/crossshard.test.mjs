// A real devnet (two shards, QUIC on loopback) driven by an unmodified client: viem signs
// and sends, solc from npm compiles contracts/src. Covers a contract deployment on each
// shard, a wallet transfer from shard 0 to shard 1 (CS-6: 21,000 gas, arrives in seconds), and
// a cross-shard call with a callback (CS-5, CS-11, CS-13): Caller on shard 0 pings Callee on
// shard 1; the Pinged event appears on shard 1 and the Answered callback on shard 0, both
// through eth_getLogs, as does the CallSent event of CROSS_SHARD.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createPublicClient, createWalletClient, defineChain, http, parseEther, getAddress,
  getContractAddress, parseEventLogs, encodeAbiParameters, formatEther,
} from 'viem';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';

import { startDevnet } from '../lib/devnet.mjs';
import { compileContracts } from '../lib/solc.mjs';

const CROSS_SHARD = '0x000000000000000000000000000000000000C5C5';
/** How long a cross-shard effect may take to show up (it takes a few blocks of 100 ms). */
const ARRIVAL_MS = 30_000;
const RECEIPT_MS = 30_000;

let devnet;
let client;
let chain;
let contracts;

before(async () => {
  let t = Date.now();
  contracts = compileContracts();
  console.log(`# solc: ${Date.now() - t} ms`);
  t = Date.now();
  devnet = await startDevnet({ shards: 2, validators: 1, blockIntervalMs: 100 });
  console.log(`# devnet ready in ${Date.now() - t} ms`);
  const { rpcUrl, chainId } = devnet.info;
  chain = defineChain({
    id: chainId,
    name: 'shardnet-devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  client = createPublicClient({ chain, transport: http(rpcUrl, { timeout: 15_000 }), pollingInterval: 200 });
});

after(async () => {
  if (devnet) {
    const t = Date.now();
    const exit = await devnet.stop();
    console.log(`# devnet stopped in ${Date.now() - t} ms`);
    // SIGTERM is a clean stop: the devnet exits 0.
    assert.deepEqual(exit, { code: 0, signal: null }, `devnet did not stop cleanly:\n${devnet.tail()}`);
  }
});

const shardOf = async (address) => Number(await client.request({ method: 'shardnet_shardOf', params: [address] }));

const wallet = (privateKey) => createWalletClient({
  account: privateKeyToAccount(privateKey),
  chain,
  transport: http(devnet.info.rpcUrl, { timeout: 15_000 }),
  pollingInterval: 200,
});

async function receiptOf(hash) {
  const receipt = await client.waitForTransactionReceipt({ hash, timeout: RECEIPT_MS, pollingInterval: 200 });
  assert.equal(receipt.status, 'success', `transaction ${hash} failed`);
  return receipt;
}

/** Polls `probe` until it returns a truthy value or `ms` pass. */
async function eventually(what, probe, ms = ARRIVAL_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * A development account on `shard` whose next CREATE address is homed on `shard` too (a
 * contract is created on its deployer's shard, so the address must be local to it). If none
 * qualifies at its current nonce, one of them sends itself a transaction to move on.
 */
async function deployerOn(shard) {
  const candidates = devnet.info.accounts.filter((a) => a.shard === shard);
  assert.ok(candidates.length > 0, `no development account on shard ${shard}`);
  for (let round = 0; round < 8; round++) {
    for (const a of candidates) {
      const nonce = await client.getTransactionCount({ address: a.address, blockTag: 'pending' });
      const created = getContractAddress({ from: a.address, nonce: BigInt(nonce) });
      if ((await shardOf(created)) === shard) return { account: a, created };
    }
    const w = wallet(candidates[0].privateKey);
    await receiptOf(await w.sendTransaction({ to: candidates[0].address, value: 0n }));
  }
  throw new Error(`no deployer on shard ${shard}`);
}

async function deploy(name, shard) {
  const { account, created } = await deployerOn(shard);
  const { abi, bytecode } = contracts[name];
  const hash = await wallet(account.privateKey).deployContract({ abi, bytecode });
  const receipt = await receiptOf(hash);
  assert.equal(getAddress(receipt.contractAddress), getAddress(created));
  const code = await client.getCode({ address: created });
  assert.ok(code && code.length > 2, `${name} has no code at ${created}`);
  return { address: created, abi, deployer: account };
}

test('the gateway serves both shards', async () => {
  assert.equal(await client.getChainId(), devnet.info.chainId);
  const status = await client.request({ method: 'shardnet_status', params: [] });
  assert.equal(Number(status.shardCount), 2);
  assert.deepEqual(status.shards.map((s) => Number(s.shard)), [0, 1]);
  const first = await client.getBlockNumber();
  await eventually('blocks', async () => (await client.getBlockNumber()) > first, 10_000);
});

test('a wallet transfer from shard 0 arrives on shard 1 for 21,000 gas', async () => {
  const from = devnet.info.accounts.find((a) => a.shard === 0);
  let to;
  do to = privateKeyToAccount(generatePrivateKey()).address; while ((await shardOf(to)) !== 1);
  const value = parseEther('1.5');
  const before = await client.getBalance({ address: from.address });
  const started = Date.now();

  // viem estimates the gas itself: eth_estimateGas runs the CROSS_SHARD rewrite (CS-6).
  const hash = await wallet(from.privateKey).sendTransaction({ to, value });
  const receipt = await receiptOf(hash);
  assert.equal(receipt.gasUsed, 21_000n);
  assert.equal(getAddress(receipt.to), getAddress(to), 'the receipt keeps the real destination');
  const [sent] = parseEventLogs({ abi: contracts.ICrossShard.abi, logs: receipt.logs, eventName: 'TransferSent' });
  assert.ok(sent, 'TransferSent in the source receipt');
  assert.equal(getAddress(sent.address), getAddress(CROSS_SHARD));
  assert.equal(getAddress(sent.args.from), getAddress(from.address));
  assert.equal(getAddress(sent.args.to), getAddress(to));
  assert.equal(sent.args.value, value);

  const after = await client.getBalance({ address: from.address });
  assert.equal(before - after, value + receipt.gasUsed * receipt.effectiveGasPrice);
  await eventually(`${formatEther(value)} ETH at ${to} on shard 1`,
    async () => (await client.getBalance({ address: to })) === value);
  console.log(`# transfer: ${Date.now() - started} ms from submit to arrival on shard 1`);
});

test('a cross-shard call with a callback: Caller on shard 0 pings Callee on shard 1', async () => {
  const callee = await deploy('Callee', 1);
  const caller = await deploy('Caller', 0);
  assert.equal(await shardOf(callee.address), 1);
  assert.equal(await shardOf(caller.address), 0);

  // Fund the caller (a local transfer on shard 0, to its receive()).
  const funder = wallet(caller.deployer.privateKey);
  await receiptOf(await funder.sendTransaction({ to: caller.address, value: parseEther('2') }));

  const value = parseEther('0.25');
  const x = 21n;
  const hash = await funder.writeContract({
    address: caller.address, abi: caller.abi, functionName: 'callPing', args: [callee.address, x, value],
  });
  const receipt = await receiptOf(hash);
  const [sent] = parseEventLogs({ abi: contracts.ICrossShard.abi, logs: receipt.logs, eventName: 'CallSent' });
  assert.ok(sent, 'CallSent in the source receipt');
  assert.equal(getAddress(sent.address), getAddress(CROSS_SHARD));
  assert.equal(getAddress(sent.args.from), getAddress(caller.address));
  assert.equal(getAddress(sent.args.to), getAddress(callee.address));
  assert.equal(sent.args.value, value);
  assert.equal(sent.args.gasLimit, 100_000n);
  assert.equal(sent.args.callbackGas, 300_000n);
  const callId = sent.args.callId;

  // eth_getLogs finds the send on the source shard too (CROSS_SHARD is a system address:
  // the gateway asks the default shard, shard 0, which is the source here).
  const sentLogs = await client.getLogs({
    address: CROSS_SHARD,
    event: contracts.ICrossShard.abi.find((e) => e.type === 'event' && e.name === 'CallSent'),
    args: { callId },
    blockHash: receipt.blockHash,
  });
  assert.equal(sentLogs.length, 1);
  assert.equal(sentLogs[0].transactionHash, hash);

  // The call runs on shard 1: its Pinged event (an inbound message's log, whose
  // transactionHash is the source transaction, R-6.1), Callee's state and the value it was paid.
  const pinged = await eventually('Pinged on shard 1', async () => {
    const logs = await client.getLogs({
      address: callee.address,
      event: contracts.Callee.abi.find((e) => e.type === 'event' && e.name === 'Pinged'),
      fromBlock: 0n,
      toBlock: 'latest',
    });
    return logs[0];
  });
  assert.equal(getAddress(pinged.args.from), getAddress(caller.address));
  assert.equal(pinged.args.x, x);
  assert.equal(pinged.args.value, value);
  assert.equal(pinged.transactionHash, hash);
  assert.equal(await client.readContract({ address: callee.address, abi: callee.abi, functionName: 'total' }), x);
  assert.equal(await client.getBalance({ address: callee.address }), value);
  // The block it names is a block of shard 1 (R-3: /shard/1 has its blocks by number).
  const shard1 = createPublicClient({ chain, transport: http(`${devnet.info.rpcUrl}/shard/1`) });
  const pingBlock = await shard1.getBlock({ blockNumber: pinged.blockNumber });
  assert.equal(pingBlock.hash, pinged.blockHash);

  // The response comes back to shard 0 and runs the callback with the return data.
  const answered = await eventually('Answered on shard 0', async () => {
    const logs = await client.getLogs({
      address: caller.address,
      event: contracts.Caller.abi.find((e) => e.type === 'event' && e.name === 'Answered'),
      args: { callId },
      fromBlock: 0n,
      toBlock: 'latest',
    });
    return logs[0];
  });
  assert.equal(answered.args.outcome, 0, 'outcome Ok');
  assert.equal(answered.args.data, encodeAbiParameters([{ type: 'uint256' }], [2n * x]));
  assert.equal(answered.transactionHash, hash);
  const read = (functionName) => client.readContract({ address: caller.address, abi: caller.abi, functionName });
  assert.equal(await read('answers'), 1n);
  assert.equal(await read('lastOutcome'), 0);
  assert.equal(await read('lastData'), encodeAbiParameters([{ type: 'uint256' }], [2n * x]));
  assert.equal(await read('answers'), 1n);
  assert.equal(await read('lastCall'), callId);

  // A call that reverts on shard 1 answers Revert (1), and its value comes back to the caller.
  const balanceBefore = await client.getBalance({ address: caller.address });
  const failHash = await funder.writeContract({
    address: caller.address, abi: caller.abi, functionName: 'callFail', args: [callee.address, value],
  });
  const failReceipt = await receiptOf(failHash);
  const [failSent] = parseEventLogs({ abi: contracts.ICrossShard.abi, logs: failReceipt.logs, eventName: 'CallSent' });
  await eventually('the Revert answer', async () => (await read('answers')) === 2n);
  assert.equal(await read('lastOutcome'), 1, 'outcome Revert');
  assert.equal(await read('lastCall'), failSent.args.callId);
  const balanceAfter = await client.getBalance({ address: caller.address });
  // The value is refunded in full; only gas was spent (the prepaid gas minus refunds).
  assert.ok(balanceBefore - balanceAfter < parseEther('0.01'),
    `caller lost ${formatEther(balanceBefore - balanceAfter)} ETH on a reverted call`);
  assert.equal(await client.getBalance({ address: callee.address }), value, 'callee kept nothing of the failed call');
});
