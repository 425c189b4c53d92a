// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Shardnet cross-shard messaging (specs/cross-shard.md, CS-5).
/// @notice The system contract lives at 0x000000000000000000000000000000000000C5C5 on every
/// shard. Sends are asynchronous: they leave when the sending transaction's block is final and
/// execute on the destination shard in a later block. A reverting frame sends nothing.
interface ICrossShard {
    /// Emitted for every transfer sent.
    event TransferSent(address indexed from, address indexed to, uint256 value);
    /// Emitted for every call sent.
    event CallSent(
        bytes32 indexed callId,
        address indexed from,
        address indexed to,
        uint256 value,
        uint64 gasLimit,
        uint64 callbackGas,
        uint64 deadline,
        uint256 gasPrice,
        bytes data
    );

    /// Sends msg.value to `to`, an address homed on another shard (CS-10: cannot fail).
    function transfer(address to) external payable;

    /// Calls `to` on its shard with `data`, msg.value and exactly `gasLimit` gas (intrinsic
    /// cost included, like a transaction's). `(gasLimit + callbackGas) * tx.gasprice` is
    /// prepaid from msg.sender's balance on top of msg.value. If `callbackGas > 0`, the
    /// caller's `onResponse` runs with that gas when the outcome comes back; unspent gas and a
    /// failed call's value are refunded to the caller either way. `deadline` is the last
    /// destination height at which the call may run (0: none); past it the call is answered
    /// TimedOut with a full refund.
    function call(address to, bytes calldata data, uint64 gasLimit, uint64 callbackGas, uint64 deadline)
        external
        payable
        returns (bytes32 callId);
}

/// @notice Implemented by contracts that ask for callbacks. `msg.sender` of the callback is
/// the CROSS_SHARD address. Outcomes: 0 Ok, 1 Revert, 2 OutOfGas, 3 TimedOut, 4 Rejected;
/// `data` is the return data, the revert data or the rejection reason.
interface ICrossShardCallback {
    function onResponse(bytes32 callId, uint8 outcome, bytes calldata data) external;
}
