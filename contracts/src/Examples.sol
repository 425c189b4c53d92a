// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import "./ICrossShard.sol";

/// Example callee: returns its input doubled, or reverts; keeps the value it is paid.
contract Callee {
    event Pinged(address indexed from, uint256 x, uint256 value);

    uint256 public total;

    function ping(uint256 x) external payable returns (uint256) {
        total += x;
        emit Pinged(msg.sender, x, msg.value);
        return 2 * x;
    }

    function fail() external payable {
        revert("callee says no");
    }
}

/// Example caller: calls a contract on another shard and records the callback.
contract Caller is ICrossShardCallback {
    ICrossShard constant XS = ICrossShard(0x000000000000000000000000000000000000C5C5);

    event Answered(bytes32 indexed callId, uint8 outcome, bytes data);

    bytes32 public lastCall;
    uint8 public lastOutcome = 255;
    bytes public lastData;
    uint256 public answers;
    /// 1 + the success flag of the last `syncPing` (0: never called).
    uint256 public lastSync;

    receive() external payable {}

    function callPing(address callee, uint256 x, uint256 value) external returns (bytes32) {
        lastCall = XS.call{value: value}(callee, abi.encodeWithSignature("ping(uint256)", x), 100000, 300000, 0);
        return lastCall;
    }

    function callFail(address callee, uint256 value) external returns (bytes32) {
        lastCall = XS.call{value: value}(callee, abi.encodeWithSignature("fail()"), 100000, 300000, 0);
        return lastCall;
    }

    function sendTo(address to, uint256 value) external {
        XS.transfer{value: value}(to);
    }

    function sendThenRevert(address to, uint256 value) external {
        XS.transfer{value: value}(to);
        revert("changed my mind");
    }

    /// A plain value transfer to an address on another shard: sent as a cross-shard transfer.
    function forward(address payable to) external payable {
        to.transfer(msg.value);
    }

    /// A synchronous call into another shard: reverts inside (recorded, not propagated).
    function syncPing(address callee) external {
        (bool ok,) = callee.call(abi.encodeWithSignature("ping(uint256)", 1));
        lastSync = ok ? 2 : 1;
    }

    function onResponse(bytes32 callId, uint8 outcome, bytes calldata data) external {
        require(msg.sender == address(XS), "only CROSS_SHARD");
        lastCall = callId;
        lastOutcome = outcome;
        lastData = data;
        answers += 1;
        emit Answered(callId, outcome, data);
    }
}
