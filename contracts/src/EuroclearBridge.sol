// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRole} from "./AgentRole.sol";

/// @notice The ERC-20 calls the bridge makes on a registered security token.
interface IBridgedToken {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @title EuroclearBridge
/// @notice Moves security tokens between the chain and custody at Euroclear. A lock takes a
///         holder's tokens into the bridge while Euroclear credits the holder's account; a
///         release gives tokens back on chain once Euroclear has debited the account.
/// @dev Every lock and release is a transfer identified by a unique bytes32 reference and
///      followed through the statuses 1 pending -> 2 instructed -> 3 settled, with 4 failed
///      and 5 cancelled possible from pending or instructed; settled, failed and cancelled
///      are final. Creating a transfer also emits TransferStatusChanged(ref, 0, 1), so the
///      status history of a reference is complete from events alone.
///      (`reference` is a reserved word in Solidity, hence the parameter name `ref`.)
///      Tokens move when the CSD side is certain: a lock pulls the tokens at once (the holder
///      must have approved the bridge) and hands them back if it fails or is cancelled; a
///      release reserves tokens in custody and transfers them only when it settles.
///      The bridge must be a verified investor on each registered token, and a token transfer
///      it makes obeys that token's rules (pause, frozen addresses): a settle or a return that
///      the token refuses reverts and can be retried once the cause is lifted.
///      ISINs are the 12 ASCII characters in bytes12; Euroclear accounts are ASCII,
///      left-aligned in bytes32.
contract EuroclearBridge is AgentRole {
    uint8 public constant STATUS_NONE = 0;
    uint8 public constant STATUS_PENDING = 1;
    uint8 public constant STATUS_INSTRUCTED = 2;
    uint8 public constant STATUS_SETTLED = 3;
    uint8 public constant STATUS_FAILED = 4;
    uint8 public constant STATUS_CANCELLED = 5;

    uint8 public constant DIRECTION_LOCK = 1;
    uint8 public constant DIRECTION_RELEASE = 2;

    struct BridgeTransfer {
        uint8 direction;
        uint8 status;
        bytes12 isin;
        address holder;
        uint256 amount;
        bytes32 euroclearAccount;
    }

    mapping(bytes12 => address) private _tokens;
    mapping(bytes12 => uint256) private _inCustody;
    mapping(bytes12 => uint256) private _pendingRelease;
    mapping(bytes32 => BridgeTransfer) private _transfers;

    event InstrumentRegistered(bytes12 indexed isin, address indexed token);
    event TokensLocked(
        bytes32 indexed ref,
        bytes12 indexed isin,
        address indexed holder,
        address token,
        uint256 amount,
        bytes32 euroclearAccount
    );
    event TokensReleased(
        bytes32 indexed ref,
        bytes12 indexed isin,
        address indexed holder,
        address token,
        uint256 amount,
        bytes32 euroclearAccount
    );
    event TransferStatusChanged(bytes32 indexed ref, uint8 oldStatus, uint8 newStatus);

    error InvalidIsin();
    error NotAContract(address token);
    error InstrumentAlreadyRegistered(bytes12 isin);
    error UnknownInstrument(bytes12 isin);
    error ZeroAmount();
    error EmptyAccount();
    error EmptyReference();
    error ReferenceAlreadyUsed(bytes32 ref);
    error UnknownReference(bytes32 ref);
    error InvalidTransition(bytes32 ref, uint8 fromStatus, uint8 toStatus);
    error InsufficientCustody(bytes12 isin, uint256 available, uint256 needed);
    error TokenTransferFailed();

    function registerInstrument(bytes12 isin, address token) external onlyOwner {
        if (isin == bytes12(0)) revert InvalidIsin();
        if (token.code.length == 0) revert NotAContract(token);
        if (_tokens[isin] != address(0)) revert InstrumentAlreadyRegistered(isin);
        _tokens[isin] = token;
        emit InstrumentRegistered(isin, token);
    }

    /// @notice Puts the caller's tokens into Euroclear custody (needs an approval first).
    function lock(bytes12 isin, uint256 amount, bytes32 euroclearAccount, bytes32 ref) external {
        address token = _open(isin, amount, euroclearAccount, ref, DIRECTION_LOCK, msg.sender);
        emit TokensLocked(ref, isin, msg.sender, token, amount, euroclearAccount);
        if (!IBridgedToken(token).transferFrom(msg.sender, address(this), amount)) revert TokenTransferFailed();
    }

    /// @notice Starts bringing `amount` tokens back from Euroclear custody to `to` on chain.
    function release(bytes12 isin, address to, uint256 amount, bytes32 euroclearAccount, bytes32 ref)
        external
        onlyAgent
    {
        if (to == address(0)) revert ZeroAddress();
        address token = _open(isin, amount, euroclearAccount, ref, DIRECTION_RELEASE, to);
        uint256 available = _inCustody[isin] - _pendingRelease[isin];
        if (available < amount) revert InsufficientCustody(isin, available, amount);
        _pendingRelease[isin] += amount;
        emit TokensReleased(ref, isin, to, token, amount, euroclearAccount);
    }

    function setStatus(bytes32 ref, uint8 newStatus) external onlyAgent {
        BridgeTransfer storage t = _transfers[ref];
        uint8 old = t.status;
        if (old == STATUS_NONE) revert UnknownReference(ref);
        if (!_allowed(old, newStatus)) revert InvalidTransition(ref, old, newStatus);
        t.status = newStatus;
        emit TransferStatusChanged(ref, old, newStatus);

        bool settled = newStatus == STATUS_SETTLED;
        bool ended = settled || newStatus == STATUS_FAILED || newStatus == STATUS_CANCELLED;
        if (!ended) return;
        address token = _tokens[t.isin];
        if (t.direction == DIRECTION_LOCK) {
            if (settled) {
                _inCustody[t.isin] += t.amount;
            } else {
                _send(token, t.holder, t.amount);
            }
        } else {
            _pendingRelease[t.isin] -= t.amount;
            if (settled) {
                _inCustody[t.isin] -= t.amount;
                _send(token, t.holder, t.amount);
            }
        }
    }

    function tokenOf(bytes12 isin) external view returns (address) {
        return _tokens[isin];
    }

    /// @notice Tokens settled into Euroclear custody and not yet released.
    function inCustody(bytes12 isin) external view returns (uint256) {
        return _inCustody[isin];
    }

    /// @notice Tokens of custody reserved by releases that have not settled yet.
    function pendingRelease(bytes12 isin) external view returns (uint256) {
        return _pendingRelease[isin];
    }

    function getTransfer(bytes32 ref) external view returns (BridgeTransfer memory) {
        if (_transfers[ref].status == STATUS_NONE) revert UnknownReference(ref);
        return _transfers[ref];
    }

    function _open(
        bytes12 isin,
        uint256 amount,
        bytes32 euroclearAccount,
        bytes32 ref,
        uint8 direction,
        address holder
    ) private returns (address token) {
        token = _tokens[isin];
        if (token == address(0)) revert UnknownInstrument(isin);
        if (amount == 0) revert ZeroAmount();
        if (euroclearAccount == bytes32(0)) revert EmptyAccount();
        if (ref == bytes32(0)) revert EmptyReference();
        if (_transfers[ref].status != STATUS_NONE) revert ReferenceAlreadyUsed(ref);
        _transfers[ref] = BridgeTransfer({
            direction: direction,
            status: STATUS_PENDING,
            isin: isin,
            holder: holder,
            amount: amount,
            euroclearAccount: euroclearAccount
        });
        emit TransferStatusChanged(ref, STATUS_NONE, STATUS_PENDING);
    }

    function _allowed(uint8 from, uint8 to) private pure returns (bool) {
        if (from == STATUS_PENDING) {
            return to == STATUS_INSTRUCTED || to == STATUS_FAILED || to == STATUS_CANCELLED;
        }
        if (from == STATUS_INSTRUCTED) {
            return to == STATUS_SETTLED || to == STATUS_FAILED || to == STATUS_CANCELLED;
        }
        return false;
    }

    function _send(address token, address to, uint256 amount) private {
        if (!IBridgedToken(token).transfer(to, amount)) revert TokenTransferFailed();
    }
}
