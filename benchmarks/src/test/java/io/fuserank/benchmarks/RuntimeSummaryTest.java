package io.fuserank.benchmarks;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The summary's figures and goal verdicts, from numbers worked out by hand. */
class RuntimeSummaryTest {

    private static final double EPS = 1e-9;

    @Test
    void imagesPerSecondIsCallsTimesBatch() {
        assertEquals(320.0, RuntimeSummary.imagesPerSecond(10.0, 32), EPS);
        assertEquals(7.5, RuntimeSummary.imagesPerSecond(7.5, 1), EPS);
    }

    @Test
    void speedupIsSingleCallsOverBatched() {
        // 64 single-pair calls in 120 ms against one k = 64 call in 20 ms.
        double speedup = RuntimeSummary.speedup(0.020, 0.120);
        assertEquals(6.0, speedup, EPS);
        assertTrue(RuntimeSummary.speedupGoalMet(speedup));
        assertTrue(RuntimeSummary.speedupGoalMet(5.0));
        assertFalse(RuntimeSummary.speedupGoalMet(RuntimeSummary.speedup(0.025, 0.120)));
    }

    @Test
    void gemmRateOfThe1024CubeIsTwoNCubedOverTime() {
        GemmShape shape = GemmShape.parse("1024x1024x1024");
        assertEquals(2.0 * 1024 * 1024 * 1024, shape.flops(), EPS);
        // 2^31 FLOPs in 21.47483648 ms is exactly 100 GFLOP/s.
        assertEquals(100.0, RuntimeSummary.gflops(shape.flops(), 0.02147483648), 1e-6);
    }

    @Test
    void floorFractionIsAchievedFusionRateOverGemmRate() {
        // 64 pairs of 89,998,080 FLOPs in 0.2 s: 28.7993856 GFLOP/s.
        double achieved = RuntimeSummary.fusionGflops(64, 89_998_080L, 0.2);
        assertEquals(28.7993856, achieved, 1e-9);
        double fraction = RuntimeSummary.floorFraction(achieved, 80.0);
        assertEquals(0.35999232, fraction, 1e-12);
        assertTrue(RuntimeSummary.floorGoalMet(fraction));
        assertFalse(RuntimeSummary.floorGoalMet(RuntimeSummary.floorFraction(achieved, 100.0)));
    }

    @Test
    void verdictsSayWhetherTheGoalWasMet() {
        assertEquals("goal met", RuntimeSummary.verdict(true));
        assertEquals("goal missed", RuntimeSummary.verdict(false));
    }

    @Test
    void nonPositiveOrMissingMeasurementsAreRejectedWithTheirValue() {
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> RuntimeSummary.speedup(0.0, 1.0));
        assertTrue(zero.getMessage().contains("[0.0]"), zero.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RuntimeSummary.gflops(1e9, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> RuntimeSummary.fusionGflops(0, 1L, 1.0));
        assertThrows(IllegalArgumentException.class, () -> RuntimeSummary.imagesPerSecond(1.0, 0));
    }

    @Test
    void gemmShapesParseAndRejectMalformedText() {
        GemmShape shape = GemmShape.parse("2048x192x768");
        assertEquals(new GemmShape(2048, 192, 768), shape);
        assertEquals("2048x192x768", shape.toString());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> GemmShape.parse("1024x1024"));
        assertTrue(bad.getMessage().contains("[1024x1024]"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GemmShape.parse("8xax8"));
        assertThrows(IllegalArgumentException.class, () -> GemmShape.parse("0x8x8"));
    }
}
