// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRole} from "./AgentRole.sol";

/// @title Issuance
/// @notice A permissioned security token after ERC-3643 (T-REX): only verified investors may
///         receive or move tokens; agents issue, redeem, freeze and force transfers.
/// @dev decimals() is 0: one token is one unit of the security (a share or a note), so
///      quantities on chain, in the back end and at the CSDs are the same integers.
///      Every investmentRef and redemption ref is accepted once, which makes a retried
///      back-end call fail instead of issuing or redeeming twice.
///      Pause stops holder transfers only; agent operations (issue, redeem, forced
///      transfer, freezes) stay available so that corrective action is possible.
contract Issuance is AgentRole {
    uint8 public constant decimals = 0;

    string public name;
    string public symbol;
    uint256 public totalSupply;
    bool public paused;

    mapping(address => uint256) private _balances;
    mapping(address => mapping(address => uint256)) private _allowances;
    mapping(address => bool) private _verified;
    mapping(address => bool) private _frozen;
    mapping(address => uint256) private _frozenTokens;
    mapping(bytes32 => bool) private _issuedRefs;
    mapping(bytes32 => bool) private _redeemedRefs;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Issued(uint256 indexed offeringId, address indexed to, uint256 amount, bytes32 investmentRef);
    event Redeemed(uint256 indexed offeringId, address indexed from, uint256 amount, bytes32 ref);
    event InvestorVerified(address indexed investor, address indexed agent);
    event InvestorUnverified(address indexed investor, address indexed agent);
    event AddressFrozen(address indexed userAddress, bool indexed isFrozen, address indexed owner);
    event TokensFrozen(address indexed userAddress, uint256 amount);
    event TokensUnfrozen(address indexed userAddress, uint256 amount);
    event Paused(address userAddress);
    event Unpaused(address userAddress);

    error TokenPaused();
    error TokenNotPaused();
    error InvestorNotVerified(address investor);
    error AddressIsFrozen(address account);
    error InsufficientBalance(address account, uint256 available, uint256 needed);
    error InsufficientUnfrozenBalance(address account, uint256 available, uint256 needed);
    error InsufficientFrozenTokens(address account, uint256 frozen, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ZeroAmount();
    error EmptyReference();
    error ReferenceAlreadyUsed(bytes32 ref);
    error AlreadyVerified(address investor);
    error NotVerified(address investor);

    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
    }

    // ---- views ----

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    function allowance(address holder, address spender) external view returns (uint256) {
        return _allowances[holder][spender];
    }

    function isVerified(address investor) external view returns (bool) {
        return _verified[investor];
    }

    function isFrozen(address account) external view returns (bool) {
        return _frozen[account];
    }

    function getFrozenTokens(address account) external view returns (uint256) {
        return _frozenTokens[account];
    }

    /// @notice Tokens the holder may move: balance minus partially frozen tokens.
    function unfrozenBalanceOf(address account) public view returns (uint256) {
        return _balances[account] - _frozenTokens[account];
    }

    function isIssuedRef(bytes32 investmentRef) external view returns (bool) {
        return _issuedRefs[investmentRef];
    }

    function isRedeemedRef(bytes32 ref) external view returns (bool) {
        return _redeemedRefs[ref];
    }

    // ---- investor registry ----

    function verifyInvestor(address investor) external onlyAgent {
        if (investor == address(0)) revert ZeroAddress();
        if (_verified[investor]) revert AlreadyVerified(investor);
        _verified[investor] = true;
        emit InvestorVerified(investor, msg.sender);
    }

    function unverifyInvestor(address investor) external onlyAgent {
        if (!_verified[investor]) revert NotVerified(investor);
        _verified[investor] = false;
        emit InvestorUnverified(investor, msg.sender);
    }

    // ---- ERC-20 ----

    function approve(address spender, uint256 amount) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        _allowances[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _checkHolderTransfer(msg.sender, to, amount);
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
        _checkHolderTransfer(from, to, amount);
        // An unlimited approval stays unlimited, as in the common ERC-20 implementations.
        if (allowed != type(uint256).max) {
            _allowances[from][msg.sender] = allowed - amount;
            emit Approval(from, msg.sender, allowed - amount);
        }
        _move(from, to, amount);
        return true;
    }

    // ---- agent operations ----

    function issue(address to, uint256 amount, uint256 offeringId, bytes32 investmentRef)
        external
        onlyAgent
    {
        if (amount == 0) revert ZeroAmount();
        if (!_verified[to]) revert InvestorNotVerified(to);
        _useRef(_issuedRefs, investmentRef);
        totalSupply += amount;
        _balances[to] += amount;
        emit Transfer(address(0), to, amount);
        emit Issued(offeringId, to, amount, investmentRef);
    }

    function redeem(address from, uint256 amount, uint256 offeringId, bytes32 ref) external onlyAgent {
        if (amount == 0) revert ZeroAmount();
        _useRef(_redeemedRefs, ref);
        _releaseFrozenFor(from, amount);
        _balances[from] -= amount;
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
        emit Redeemed(offeringId, from, amount, ref);
    }

    /// @notice Moves tokens regardless of pause and freezes (court order, lost keys); the
    ///         receiver must still be verified.
    function forcedTransfer(address from, address to, uint256 amount) external onlyAgent returns (bool) {
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        if (!_verified[to]) revert InvestorNotVerified(to);
        _releaseFrozenFor(from, amount);
        _move(from, to, amount);
        return true;
    }

    function setAddressFrozen(address account, bool freeze) external onlyAgent {
        if (account == address(0)) revert ZeroAddress();
        _frozen[account] = freeze;
        emit AddressFrozen(account, freeze, msg.sender);
    }

    function freezePartialTokens(address account, uint256 amount) external onlyAgent {
        if (amount == 0) revert ZeroAmount();
        uint256 free = unfrozenBalanceOf(account);
        if (free < amount) revert InsufficientUnfrozenBalance(account, free, amount);
        _frozenTokens[account] += amount;
        emit TokensFrozen(account, amount);
    }

    function unfreezePartialTokens(address account, uint256 amount) external onlyAgent {
        if (amount == 0) revert ZeroAmount();
        uint256 frozenNow = _frozenTokens[account];
        if (frozenNow < amount) revert InsufficientFrozenTokens(account, frozenNow, amount);
        _frozenTokens[account] = frozenNow - amount;
        emit TokensUnfrozen(account, amount);
    }

    function pause() external onlyAgent {
        if (paused) revert TokenPaused();
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyAgent {
        if (!paused) revert TokenNotPaused();
        paused = false;
        emit Unpaused(msg.sender);
    }

    // ---- internals ----

    function _checkHolderTransfer(address from, address to, uint256 amount) private view {
        if (paused) revert TokenPaused();
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        if (_frozen[from]) revert AddressIsFrozen(from);
        if (_frozen[to]) revert AddressIsFrozen(to);
        if (!_verified[from]) revert InvestorNotVerified(from);
        if (!_verified[to]) revert InvestorNotVerified(to);
        uint256 free = unfrozenBalanceOf(from);
        if (free < amount) revert InsufficientUnfrozenBalance(from, free, amount);
    }

    function _move(address from, address to, uint256 amount) private {
        _balances[from] -= amount;
        _balances[to] += amount;
        emit Transfer(from, to, amount);
    }

    /// @dev Agent operations may take frozen tokens (as in T-REX): the shortfall beyond the
    ///      unfrozen balance is unfrozen first, and said so in an event, so projections of
    ///      frozen quantities stay exact.
    function _releaseFrozenFor(address from, uint256 amount) private {
        uint256 balance = _balances[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        uint256 free = balance - _frozenTokens[from];
        if (amount > free) {
            uint256 toUnfreeze = amount - free;
            _frozenTokens[from] -= toUnfreeze;
            emit TokensUnfrozen(from, toUnfreeze);
        }
    }

    function _useRef(mapping(bytes32 => bool) storage used, bytes32 ref) private {
        if (ref == bytes32(0)) revert EmptyReference();
        if (used[ref]) revert ReferenceAlreadyUsed(ref);
        used[ref] = true;
    }
}
