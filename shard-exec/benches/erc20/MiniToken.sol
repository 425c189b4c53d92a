// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// The smallest useful ERC-20 for the executor benchmark (`../executor.rs`): balances and
/// `transfer`, with the standard `Transfer` event. Holders are funded in the benchmark's
/// genesis at the standard mapping slot `keccak256(abi.encode(holder, uint256(0)))`.
///
/// `MiniToken.bin-runtime` beside this file is its deployed bytecode, produced by
/// solc-js 0.8.28 (optimizer on, 200 runs, evmVersion cancun) with, from the repository root:
/// `bash shard-exec/benches/erc20/compile.sh`
contract MiniToken {
    mapping(address => uint256) public balanceOf; // slot 0

    event Transfer(address indexed from, address indexed to, uint256 value);

    function transfer(address to, uint256 value) external returns (bool) {
        uint256 balance = balanceOf[msg.sender];
        require(balance >= value, "insufficient balance");
        unchecked {
            balanceOf[msg.sender] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
