// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRole} from "./AgentRole.sol";

/// @notice The part of the security token the offering needs: its investor registry.
interface IInvestorRegistry {
    function isVerified(address investor) external view returns (bool);
}

/// @title STO
/// @notice On-chain record of security-token offerings and the investments made in them.
/// @dev Investments are paid in fiat off chain (bank transfer, card), so an agent records
///      each paid investment with its amount and units instead of the investor sending ether.
///      Amounts are integers in the minor unit of the offering currency (cents for EUR);
///      units are whole tokens (Issuance has 0 decimals); amount must equal units * unitPrice.
///      The chain enforces the subscription window, the hard cap (no investment beyond it),
///      the soft cap (no close below it: such an offering is cancelled and refunded), that the
///      investor is verified on the offering's token, and that each investmentRef is used once.
///      Tokens are issued on the Issuance contract under the same investmentRef, which is how
///      the back end matches an investment to its issuance. Close may come before closesAt
///      (early close), never below the soft cap. Refunds are whole investments, while the
///      offering is open or after it was cancelled; a closed offering has issued its tokens,
///      so money goes back through redemption instead.
contract STO is AgentRole {
    uint8 public constant STATUS_NONE = 0;
    uint8 public constant STATUS_OPEN = 1;
    uint8 public constant STATUS_CLOSED = 2;
    uint8 public constant STATUS_CANCELLED = 3;

    struct Offering {
        address token;
        bytes3 currency;
        uint8 status;
        uint64 opensAt;
        uint64 closesAt;
        uint256 unitPrice;
        uint256 softCap;
        uint256 hardCap;
        uint256 totalRaised;
        uint256 totalUnits;
    }

    struct Investment {
        uint256 offeringId;
        address investor;
        bool refunded;
        uint256 amount;
        uint256 units;
    }

    uint256 public offeringCount;
    mapping(uint256 => Offering) private _offerings;
    mapping(bytes32 => Investment) private _investments;

    event OfferingCreated(
        uint256 indexed offeringId,
        address indexed token,
        bytes3 currency,
        uint256 unitPrice,
        uint256 softCap,
        uint256 hardCap,
        uint64 opensAt,
        uint64 closesAt
    );
    event InvestmentReceived(
        uint256 indexed offeringId, address indexed investor, uint256 amount, uint256 units, bytes32 investmentRef
    );
    event InvestmentRefunded(
        uint256 indexed offeringId, address indexed investor, uint256 amount, uint256 units, bytes32 investmentRef
    );
    event OfferingClosed(uint256 indexed offeringId, uint256 totalRaised, uint256 totalUnits);
    event OfferingCancelled(uint256 indexed offeringId, uint256 totalRaised, uint256 totalUnits);

    error NotAContract(address token);
    error InvalidCurrency();
    error InvalidPrice();
    error InvalidCaps(uint256 softCap, uint256 hardCap);
    error InvalidWindow(uint64 opensAt, uint64 closesAt);
    error UnknownOffering(uint256 offeringId);
    error OfferingNotOpen(uint256 offeringId, uint8 status);
    error OutsideWindow(uint256 offeringId, uint256 timestamp, uint64 opensAt, uint64 closesAt);
    error ZeroUnits();
    error AmountMismatch(uint256 expected, uint256 given);
    error EmptyReference();
    error ReferenceAlreadyUsed(bytes32 investmentRef);
    error InvestorNotVerified(address investor);
    error HardCapExceeded(uint256 offeringId, uint256 remaining, uint256 amount);
    error SoftCapNotReached(uint256 offeringId, uint256 totalRaised, uint256 softCap);
    error UnknownInvestment(bytes32 investmentRef);
    error InvestmentMismatch(bytes32 investmentRef);
    error AlreadyRefunded(bytes32 investmentRef);
    error RefundNotAllowed(uint256 offeringId, uint8 status);

    function createOffering(
        address token,
        bytes3 currency,
        uint256 unitPrice,
        uint256 softCap,
        uint256 hardCap,
        uint64 opensAt,
        uint64 closesAt
    ) external onlyOwner returns (uint256 offeringId) {
        if (token.code.length == 0) revert NotAContract(token);
        if (currency == bytes3(0)) revert InvalidCurrency();
        if (unitPrice == 0) revert InvalidPrice();
        if (hardCap == 0 || softCap > hardCap) revert InvalidCaps(softCap, hardCap);
        if (opensAt >= closesAt || closesAt <= block.timestamp) revert InvalidWindow(opensAt, closesAt);
        offeringId = ++offeringCount;
        _offerings[offeringId] = Offering({
            token: token,
            currency: currency,
            status: STATUS_OPEN,
            opensAt: opensAt,
            closesAt: closesAt,
            unitPrice: unitPrice,
            softCap: softCap,
            hardCap: hardCap,
            totalRaised: 0,
            totalUnits: 0
        });
        emit OfferingCreated(offeringId, token, currency, unitPrice, softCap, hardCap, opensAt, closesAt);
    }

    /// @notice Records a paid investment of `units` tokens for `amount` (minor currency units).
    function invest(uint256 offeringId, address investor, uint256 amount, uint256 units, bytes32 investmentRef)
        external
        onlyAgent
    {
        Offering storage o = _openOffering(offeringId);
        if (block.timestamp < o.opensAt || block.timestamp >= o.closesAt) {
            revert OutsideWindow(offeringId, block.timestamp, o.opensAt, o.closesAt);
        }
        if (units == 0) revert ZeroUnits();
        if (amount != units * o.unitPrice) revert AmountMismatch(units * o.unitPrice, amount);
        if (investmentRef == bytes32(0)) revert EmptyReference();
        if (_investments[investmentRef].investor != address(0)) revert ReferenceAlreadyUsed(investmentRef);
        if (investor == address(0) || !IInvestorRegistry(o.token).isVerified(investor)) {
            revert InvestorNotVerified(investor);
        }
        uint256 remaining = o.hardCap - o.totalRaised;
        if (amount > remaining) revert HardCapExceeded(offeringId, remaining, amount);
        o.totalRaised += amount;
        o.totalUnits += units;
        _investments[investmentRef] =
            Investment({offeringId: offeringId, investor: investor, refunded: false, amount: amount, units: units});
        emit InvestmentReceived(offeringId, investor, amount, units, investmentRef);
    }

    function closeOffering(uint256 offeringId) external onlyOwner {
        Offering storage o = _openOffering(offeringId);
        if (o.totalRaised < o.softCap) revert SoftCapNotReached(offeringId, o.totalRaised, o.softCap);
        o.status = STATUS_CLOSED;
        emit OfferingClosed(offeringId, o.totalRaised, o.totalUnits);
    }

    function cancelOffering(uint256 offeringId) external onlyOwner {
        Offering storage o = _openOffering(offeringId);
        o.status = STATUS_CANCELLED;
        emit OfferingCancelled(offeringId, o.totalRaised, o.totalUnits);
    }

    /// @notice Records that a whole investment was paid back; `amount` must equal what was paid.
    function refund(uint256 offeringId, address investor, uint256 amount, bytes32 investmentRef)
        external
        onlyAgent
    {
        Investment storage inv = _investments[investmentRef];
        if (inv.investor == address(0)) revert UnknownInvestment(investmentRef);
        if (inv.offeringId != offeringId || inv.investor != investor) revert InvestmentMismatch(investmentRef);
        if (inv.refunded) revert AlreadyRefunded(investmentRef);
        if (amount != inv.amount) revert AmountMismatch(inv.amount, amount);
        Offering storage o = _offerings[offeringId];
        if (o.status != STATUS_OPEN && o.status != STATUS_CANCELLED) revert RefundNotAllowed(offeringId, o.status);
        inv.refunded = true;
        // Totals always describe the money currently held, so refunds free room under the cap.
        o.totalRaised -= amount;
        o.totalUnits -= inv.units;
        emit InvestmentRefunded(offeringId, investor, amount, inv.units, investmentRef);
    }

    function getOffering(uint256 offeringId) external view returns (Offering memory) {
        if (_offerings[offeringId].status == STATUS_NONE) revert UnknownOffering(offeringId);
        return _offerings[offeringId];
    }

    function getInvestment(bytes32 investmentRef) external view returns (Investment memory) {
        if (_investments[investmentRef].investor == address(0)) revert UnknownInvestment(investmentRef);
        return _investments[investmentRef];
    }

    function _openOffering(uint256 offeringId) private view returns (Offering storage o) {
        o = _offerings[offeringId];
        if (o.status == STATUS_NONE) revert UnknownOffering(offeringId);
        if (o.status != STATUS_OPEN) revert OfferingNotOpen(offeringId, o.status);
    }
}
