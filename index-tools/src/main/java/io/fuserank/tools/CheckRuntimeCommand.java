package io.fuserank.tools;

import io.fuserank.encoder.NativeRuntimeCheck;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code fuserank check-runtime}: proves ONNX Runtime and the DJL tokenizers load on this host. */
@Command(name = "check-runtime", description = "Load ONNX Runtime and the DJL tokenizers and print what was found.")
final class CheckRuntimeCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        System.out.println(NativeRuntimeCheck.run().summary());
        return 0;
    }
}
