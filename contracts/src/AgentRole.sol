// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentRole
/// @notice Owner and agent roles shared by the DPO reference contracts (the ERC-3643 model:
///         the owner manages agents; agents run day-to-day operations).
/// @dev The deployer becomes owner and first agent. Ownership moves in two steps so that a
///      mistyped address cannot orphan the contract.
abstract contract AgentRole {
    address private _owner;
    address private _pendingOwner;
    mapping(address => bool) private _agents;

    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event AgentAdded(address indexed agent);
    event AgentRemoved(address indexed agent);

    error NotOwner(address caller);
    error NotAgent(address caller);
    error NotPendingOwner(address caller);
    error ZeroAddress();
    error AgentAlreadyAdded(address agent);
    error AgentNotFound(address agent);

    modifier onlyOwner() {
        if (msg.sender != _owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyAgent() {
        if (!_agents[msg.sender]) revert NotAgent(msg.sender);
        _;
    }

    constructor() {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _agents[msg.sender] = true;
        emit AgentAdded(msg.sender);
    }

    function owner() external view returns (address) {
        return _owner;
    }

    function pendingOwner() external view returns (address) {
        return _pendingOwner;
    }

    function isAgent(address account) public view returns (bool) {
        return _agents[account];
    }

    function addAgent(address agent) external onlyOwner {
        if (agent == address(0)) revert ZeroAddress();
        if (_agents[agent]) revert AgentAlreadyAdded(agent);
        _agents[agent] = true;
        emit AgentAdded(agent);
    }

    function removeAgent(address agent) external onlyOwner {
        if (!_agents[agent]) revert AgentNotFound(agent);
        _agents[agent] = false;
        emit AgentRemoved(agent);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        _pendingOwner = newOwner;
        emit OwnershipTransferStarted(_owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != _pendingOwner) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(_owner, msg.sender);
        _owner = msg.sender;
        _pendingOwner = address(0);
    }
}
